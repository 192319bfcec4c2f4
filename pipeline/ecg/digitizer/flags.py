"""Every flag the digitizer can put on a page, and which of them mean the page was read with a guess.

Flags are strings in `Digitized.diagnostics["flags"]` (and in the stage2 cache), so `Flag` is a `StrEnum`:
a member compares equal to, and serialises as, its plain name. Three flags carry a detail after a colon
(`failed: <reason>`, `low_confidence: <leads>`) or a number (`turned_<degrees>`); build them with the
functions below and read any flag's name with `flag_name`.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Flag(StrEnum):
    # step 1, rectify
    RECTIFIED_PAGE = "rectified_page"
    """A photographed page's outline was mapped onto the frame."""
    RECTIFIED_PLANE = "rectified_plane"
    """A perspective was undone without the page outline (the grid's plane)."""
    MOIRE_REMOVED = "moire_removed"
    """A screen's moire bands were notched out of the photographed page (`moire.remove_moire`)."""
    # step 2, grid
    ROTATION_AT_LIMIT = "rotation_at_limit"
    """The deskew angle hit the search limit: the page may be turned more than that."""
    GRID_NOT_FOUND = "grid_not_found"
    """No grid period found: the scale comes from elsewhere (see the scale_* flags)."""
    SCALE_FROM_PAGE = "scale_from_page"
    """The grid period disagreed with the rectified page's own scale, which was taken instead (never
    after a screen's moire was removed: the grid found then is the paper's)."""
    COLUMNS_STRAIGHTENED = "columns_straightened"
    """The grid's lines stood unevenly along x (a scanner's feed slip), or its period along x differed
    from the one along y; the page's columns were resampled to even them (`lattice.column_source`)."""
    WARP_FOLLOWED = "warp_followed"
    """The grid's 1 mm lines stood off an even lattice by different amounts in different places (paper
    cockled or bent); the page was resampled along x to put them back (`lattice.shift_field`)."""
    # step 3, rows and time axis
    ROW_FALLBACK = "row_fallback"
    """Fewer than four trace rows found: the default layout's rows were used."""
    ROW_ENDS_DISAGREE = "row_ends_disagree"
    """The rows' traces end at different x: the time axis end is a guess."""
    X_FALLBACK = "x_fallback"
    """The traces' start and end were not found: the default layout's were used."""
    SCALE_FROM_SEPARATORS = "scale_from_separators"
    """No grid: px per second from the lead separator ticks."""
    SCALE_FALLBACK = "scale_fallback"
    """No grid and no separators: px per second from the trace length alone."""
    X0_OUTSIDE_PAGE = "x0_outside_page"
    """t = 0 computed from the end fell off the page."""
    X0_FROM_SEPARATORS = "x0_from_separators"
    """t = 0 placed from the separator ticks."""
    X0_KIT_PAGE = "x0_kit_page"
    """The page is ecg-image-kit's own, unmoved (native size, not turned or warped): its geometry placed
    t = 0 (`kit_page.place_kit_t0`)."""
    KIT_SEPARATORS = "kit_separators"
    """The calibration pulses mark the page as drawn by ecg-image-kit: its separators were read as
    standing where the kit's pixel snapping put them, a fraction of a pixel before the boundaries."""
    # step 6, trace
    X_END_FROM_TRACE = "x_end_from_trace"
    """The ink-based end of the traces was replaced by where the traced ink really ends."""
    X0_FROM_PULSES = "x0_from_pulses"
    """The ink-based and the traced end disagreed and neither fit the calibration pulses: t = 0 was
    placed at the pulses' falling edge."""
    SEPARATORS_OFF_PULSES = "separators_off_pulses"
    """The separators found put t = 0 where the calibration pulses do not allow it, the traces' end
    where they do: t = 0 was placed from the end (QRS strokes of a regular rhythm taken for separators)."""
    ROWS_SHEARED = "rows_sheared"
    """The rows' pulses stand at different x in proportion to their height: each row was read from its
    own t = 0."""
    SCALE_FROM_LEAD_BREAKS = "scale_from_lead_breaks"
    """No grid and no separators: px per second from where the pen stroke of one lead ends and the next starts."""
    # step 7, signals
    LOW_CONFIDENCE = "low_confidence"
    """Some leads were traced over little ink (detail: the leads)."""
    # orientation
    TURNED_90 = "turned_90"
    TURNED_180 = "turned_180"
    TURNED_270 = "turned_270"
    """The page was read turned clockwise by this many degrees."""
    # whole page
    FAILED = "failed"
    """The page could not be read; its leads are the flat fallback (detail: the reason)."""


DOUBTFUL: frozenset[Flag] = frozenset({
    Flag.TURNED_90, Flag.TURNED_180, Flag.TURNED_270, Flag.ROTATION_AT_LIMIT, Flag.GRID_NOT_FOUND,
    Flag.SCALE_FALLBACK, Flag.ROW_FALLBACK, Flag.X_FALLBACK, Flag.ROW_ENDS_DISAGREE, Flag.X0_OUTSIDE_PAGE,
    Flag.LOW_CONFIDENCE,
})
"""Flags of a page read with a guess: stage2's failures.txt lists them as '<id>: doubtful: <flag>'."""

TIME_AXIS_DOUBTS: tuple[Flag, ...] = (Flag.X_FALLBACK, Flag.SCALE_FALLBACK, Flag.ROW_ENDS_DISAGREE,
                                      Flag.X0_OUTSIDE_PAGE)
"""Flags that say the time axis (t = 0 or px per second) is a guess."""

TIME_FLAGS: tuple[Flag, ...] = (Flag.SCALE_FROM_SEPARATORS, Flag.SCALE_FALLBACK, Flag.X0_OUTSIDE_PAGE,
                                Flag.X0_FROM_SEPARATORS)
"""Flags of the time axis that are recomputed whenever the traces' end moves."""


def failed(reason: object) -> str:
    return f"{Flag.FAILED}: {reason}"


def low_confidence(leads: Iterable[str]) -> str:
    return f"{Flag.LOW_CONFIDENCE}: " + ",".join(leads)


def turned(degrees: int) -> Flag:
    return Flag(f"turned_{degrees}")


def flag_name(flag: str) -> str:
    """The flag without its detail: 'low_confidence: I,II' -> 'low_confidence'."""
    return str(flag).split(":", 1)[0]


def detail(flag: str) -> str:
    """The detail after the colon ('' for plain flags)."""
    return str(flag).split(":", 1)[1].strip() if ":" in str(flag) else ""


def is_failed(flag: str) -> bool:
    return flag_name(flag) == Flag.FAILED


def is_doubtful(flag: str) -> bool:
    return flag_name(flag) in DOUBTFUL
