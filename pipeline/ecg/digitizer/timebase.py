"""Step 6b of the digitizer: where t = 0 stands, once the traces are known.

The traces' ink-based and traced ends can disagree (`settle_end`: the calibration pulses decide);
the lead separators then place t = 0, as ecg-image-kit snapped them where the pulses mark the page as
the kit's (`place_t0`); a sheared photo's rows each start at their own x (`sheared_row_starts`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from pipeline.ecg.digitizer.flags import Flag
from pipeline.ecg.digitizer.kit_page import drawn_by_kit, kit_separator_offsets
from pipeline.ecg.digitizer.pulse import row_starts, sheared_edges
from pipeline.ecg.digitizer.rows import DetectedLayout
from pipeline.ecg.layout import DURATION_S, MM_PER_S, N_COLUMNS, PageLayout

PULSE_LEAD_S = 0.1
"""How far after its pulse's falling edge a row's t = 0 may stand (ecg-image-kit: at the edge; other
printers leave a short flat stretch)."""
SEPARATOR_LEAD_S = 0.05
"""The same for t = 0 as the separators place it: the styles we know (ecg-image-kit's at the edge, our
renderer's 0.05 s after it)."""


def fits_pulses(layout: PageLayout, pulse_x0: float, lead_s: float = PULSE_LEAD_S) -> bool:
    """Whether layout's t = 0 stands where the calibration pulses' falling edge allows: at it or up to
    lead_s after it, 1 mm either way."""
    lead = layout.x0 - pulse_x0
    return -layout.px_per_mm <= lead <= (lead_s * MM_PER_S + 1.0) * layout.px_per_mm


def settle_end(found: DetectedLayout, traced_end: float, pulse_x0: float | None, scale_known: bool,
               px_per_mm: float) -> DetectedLayout:
    """The layout when the ink-based end (found's) and the traced end disagree: the one whose t = 0 fits
    the calibration pulses (at or up to PULSE_LEAD_S after their falling edge, 1 mm either way), the
    traced one first; t = 0 on the pulses' edge when neither fits; the traced one when there are no
    pulses. A screen photo's moire can break the trace into dashes that end anywhere, and fill the
    paper past its end with specks the ink-based end runs on over. Each end is tried at the scale it
    gives (without a grid, the separators' spacing is measured from it)."""
    traced = found.with_end(traced_end, scale_known, px_per_mm)
    traced = replace(traced, flags=traced.flags + (Flag.X_END_FROM_TRACE,))
    if pulse_x0 is None:
        return traced

    for candidate in (traced, found):
        if fits_pulses(candidate.layout, pulse_x0):
            return candidate
    pulsed = found.with_end(pulse_x0 + DURATION_S * found.layout.px_per_s, scale_known, px_per_mm)
    return replace(pulsed, flags=pulsed.flags + (Flag.X0_FROM_PULSES,))


def place_t0(found: DetectedLayout, cap: float, fs: int, pulse_x0: float | None) -> DetectedLayout:
    """found.with_pen, its separators read as the kit's (kit_page.kit_separator_offsets, flag
    kit_separators) where they placed t = 0 and the calibration pulses mark the page as the kit's. Where
    the separators put t = 0 off the pulses (`fits_pulses`) and the traces' end puts it on them, the
    end's t = 0 is kept (flag separators_off_pulses).
    Without a grid the separators' spacing also gave px/s: both are then read again from the separators
    moved back onto the boundaries (the offsets' trend made px/s 0.02-0.04 % short on own-seed pages)."""
    placed = found.with_pen(cap, fs)
    if (Flag.X0_FROM_SEPARATORS in placed.flags and pulse_x0 is not None
            and not fits_pulses(placed.layout, pulse_x0, SEPARATOR_LEAD_S)):
        by_end = replace(found, separators=()).with_pen(cap, fs)
        if fits_pulses(by_end.layout, pulse_x0, SEPARATOR_LEAD_S):
            # A regular rhythm can put QRS strokes at three exactly spaced x near the boundaries, which
            # then pass for the separators (lost behind a QRS of their own) and misplace t = 0.
            return replace(by_end, flags=by_end.flags + (Flag.SEPARATORS_OFF_PULSES,))
    pps = placed.layout.px_per_s
    if Flag.X0_FROM_SEPARATORS not in placed.flags or not drawn_by_kit(pulse_x0, placed.layout.x0, pps):
        return placed
    offsets = kit_separator_offsets(pps)
    if Flag.SCALE_FROM_SEPARATORS in placed.flags:
        seps = separators_on_boundaries(found.separators, placed.layout, offsets)
        kit = replace(found, separators=seps).with_end(found.x_end, False, found.layout.px_per_mm).with_pen(cap, fs)
    else:
        kit = found.with_pen(cap, fs, offsets)
    return replace(kit, flags=kit.flags + (Flag.KIT_SEPARATORS,)) if Flag.X0_FROM_SEPARATORS in kit.flags else placed


def separators_on_boundaries(separators: tuple[float, ...], layout: PageLayout,
                             offsets: tuple[float, ...]) -> tuple[float, ...]:
    """The separators within 1 mm of where a column boundary's would stand (layout's t = 0 and px/s),
    moved back by that boundary's offset; the others (QRS strokes) as they are."""
    col = DURATION_S / N_COLUMNS * layout.px_per_s
    out = []
    for s in separators:
        k = int(round((s - layout.x0) / col))
        near = 1 <= k < N_COLUMNS and abs(s - layout.x0 - k * col - offsets[k - 1]) <= layout.px_per_mm
        out.append(s - offsets[k - 1] if near else s)
    return tuple(out)


def sheared_row_starts(found: DetectedLayout, edges: list[float | None], cap: float, row_pps: list[float],
                       fs: int) -> list[float] | None:
    """Each row's x of t = 0 where the rows' pulse edges show the page sheared (pulse.sheared_edges):
    from each row's fitted edge (pulse.row_starts), a strong shear's lead measured against each row's
    own end (its ink-based end where that agrees with the page's within 2 mm, else the page's) at its
    own px/s, or 0 where t = 0 came from the pulses themselves. None where the rows share the layout's."""
    layout = found.layout
    fitted = sheared_edges(edges, layout.baselines, layout.px_per_mm)
    if fitted is None or len(fitted) != len(row_pps) or Flag.X0_KIT_PAGE in found.flags:
        return None
    ends = None
    if Flag.X0_FROM_PULSES not in found.flags:
        t_last = DURATION_S - 1.0 / fs
        near = [np.isfinite(e) and abs(e - found.x_end) <= 2.0 * layout.px_per_mm for e in found.row_ends]
        ends = [(e if ok else found.x_end) - cap - t_last * pps for e, ok, pps in zip(found.row_ends, near, row_pps)]
    return row_starts(fitted, layout.x0, ends, layout.px_per_mm, PULSE_LEAD_S * layout.px_per_s)
