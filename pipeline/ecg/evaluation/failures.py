"""The failure report: per image, which digitizer step failed or looked doubtful, read
from the diagnostics the digitizer stores beside each prediction, and a one-page Markdown summary
that links overlays of the worst images.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.core.io import write_text_atomic
from pipeline.ecg.digitizer.flags import TIME_AXIS_DOUBTS, Flag, detail, flag_name, is_failed


@dataclass(frozen=True)
class DoubtConfig:
    axis_disagreement: float = 0.01
    """Relative difference of the two axes' grid periods above which the period counts as unstable."""
    weak_grid: float = 10.0
    """Grid comb contrast below which a found grid is weak (grid.MIN_COMB_CONTRAST)."""
    large_rotation_deg: float = 2.0
    min_gap_s: float = 0.0
    """Gaps shorter than this are not reported (the digitizer already keeps only gaps of 1 mm or more)."""


@dataclass(frozen=True)
class Doubt:
    step: str
    """Digitizer step: digitize, grid, layout or trace."""
    kind: str
    """Short name: failed, no_grid, grid_unstable, rotation_large, row_fallback, time_fallback,
    low_confidence, crossing_guessed, gap_filled, left_row."""
    detail: str

    def __str__(self) -> str:
        return f"{self.step}: {self.detail}"


KINDS = ("failed", "no_grid", "grid_unstable", "rotation_large", "row_fallback", "time_fallback",
         "low_confidence", "crossing_guessed", "gap_filled", "left_row")


def _spans(regions: Sequence[Mapping[str, Any]], limit: int = 3) -> str:
    parts = [f"{r['t0']:.2f}-{r['t1']:.2f} s" for r in sorted(regions, key=lambda r: r["t0"])[:limit]]
    return ", ".join(parts) + (f" (+{len(regions) - limit} more)" if len(regions) > limit else "")


def doubts(diagnostics: Mapping[str, Any], config: DoubtConfig = DoubtConfig()) -> list[Doubt]:
    """What looked doubtful in one image's digitization, in step order (an old cache without some
    of the keys simply yields fewer doubts)."""
    flags = [str(f) for f in diagnostics.get("flags", [])]
    out = [Doubt("digitize", "failed", detail(f)) for f in flags if is_failed(f)]
    if out:
        return out
    if Flag.GRID_NOT_FOUND in flags or diagnostics.get("grid_found") is False:
        how = next((f for f in flags if f.startswith("scale_")), Flag.SCALE_FALLBACK).replace("_", " ")
        out.append(Doubt("grid", "no_grid", f"no grid found ({how})"))
    else:
        axes = [float(p) for p in diagnostics.get("grid_axis_periods", [])]
        if len(axes) == 2 and abs(axes[0] / axes[1] - 1.0) > config.axis_disagreement:
            out.append(Doubt("grid", "grid_unstable", f"grid period unstable: {axes[0]:.3f} px/mm across, "
                             f"{axes[1]:.3f} down ({100 * abs(axes[0] / axes[1] - 1):.1f} %)"))
        elif "grid_strength" in diagnostics and float(diagnostics["grid_strength"]) < config.weak_grid:
            out.append(Doubt("grid", "grid_unstable",
                             f"grid period unstable: weak grid (contrast {float(diagnostics['grid_strength']):.1f})"))
    rotation = float(diagnostics.get("rotation_deg", 0.0))
    if Flag.ROTATION_AT_LIMIT in flags or abs(rotation) >= config.large_rotation_deg:
        out.append(Doubt("grid", "rotation_large", f"rotation large: {rotation:+.2f} deg"
                         + (" (at the search limit)" if Flag.ROTATION_AT_LIMIT in flags else "")))
    if Flag.ROW_FALLBACK in flags:
        out.append(Doubt("layout", "row_fallback", "rows found by fallback (default row positions)"))
    time_flags = [f for f in flags if f in TIME_AXIS_DOUBTS]
    if time_flags:
        out.append(Doubt("layout", "time_fallback", "time axis doubtful: " + ", ".join(time_flags)))
    low = next((detail(f) for f in flags if flag_name(f) == Flag.LOW_CONFIDENCE), "")
    if low:
        conf = diagnostics.get("confidence", {})
        worst = min((float(conf[k]) for k in low.split(",") if k in conf), default=float("nan"))
        out.append(Doubt("trace", "low_confidence", f"low trace confidence: {low} (lowest {worst:.2f})"))
    by_rows: dict[tuple[int, ...], list[Mapping[str, Any]]] = {}
    for c in diagnostics.get("crossings", []):
        by_rows.setdefault(tuple(c["rows"]), []).append(c)
    for rows, regions in sorted(by_rows.items()):
        out.append(Doubt("trace", "crossing_guessed", f"crossing resolved by guess: rows {rows[0]}/{rows[1]} "
                         f"at {_spans(regions)}"))
    gaps = [g for g in diagnostics.get("gaps", []) if g["t1"] - g["t0"] >= config.min_gap_s]
    for row in sorted({g["rows"][0] for g in gaps}):
        regions = [g for g in gaps if g["rows"][0] == row]
        total = sum(g["t1"] - g["t0"] for g in regions)
        out.append(Doubt("trace", "gap_filled", f"gap filled: row {row}, {len(regions)} gap(s), "
                         f"{1000 * total:.0f} ms in all, at {_spans(regions)}"))
    excursions = diagnostics.get("excursions", [])
    for row in sorted({g["rows"][0] for g in excursions}):
        regions = [g for g in excursions if g["rows"][0] == row]
        out.append(Doubt("trace", "left_row", f"trace left its row: row {row} at {_spans(regions)}"))
    return out


def doubt_regions(diagnostics: Mapping[str, Any]) -> list[tuple[str, list[float]]]:
    """(kind, box in image pixels) of every located doubt, for the overlay."""
    return ([("crossing", list(c["box"])) for c in diagnostics.get("crossings", [])]
            + [("gap", list(g["box"])) for g in diagnostics.get("gaps", [])]
            + [("left row", list(g["box"])) for g in diagnostics.get("excursions", [])])


def failure_table(diagnostics: Mapping[str, Mapping[str, Any]], config: DoubtConfig = DoubtConfig()) -> pd.DataFrame:
    """One row per image: a 0/1 column per doubt kind, the count, and the doubts in words."""
    rows = []
    for image_id, diag in diagnostics.items():
        found = doubts(diag, config)
        kinds = {d.kind for d in found}
        rows.append({"id": image_id, **{k: int(k in kinds) for k in KINDS}, "doubts": len(found),
                     "details": "; ".join(str(d) for d in found)})
    return pd.DataFrame(rows, columns=["id", *KINDS, "doubts", "details"])


def markdown_table(frame: pd.DataFrame) -> list[str]:
    """A small frame (index included) as Markdown table lines."""
    head = [str(frame.index.name or "")] + [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    lines += ["| " + " | ".join([str(i)] + [str(v) for v in row]) + " |" for i, row in zip(frame.index, frame.to_numpy())]
    return lines


def summary_markdown(table: pd.DataFrame, overlays: Mapping[str, str], title: str = "Failure report",
                     sections: Mapping[str, pd.DataFrame] | None = None) -> str:
    """One page: how many images each doubt touched, then every image (worst first if the table has
    snr_db) with its doubts and a link to its overlay when one was drawn."""
    lines = [f"# {title}", "", f"{len(table)} images; {int((table['doubts'] > 0).sum())} with at least one doubt.", "",
             "| doubt | images |", "|---|---|"]
    lines += [f"| {k.replace('_', ' ')} | {int(table[k].sum())} |" for k in KINDS]
    lines += ["", "## Images", ""]
    extra = [(c, name, fmt) for c, name, fmt in (("snr_db", "SNR (dB)", "{:.1f}"), ("qrs_f1", "QRS F1", "{:.2f}"),
                                                  ("true_class", "rhythm (true)", "{}"),
                                                  ("recovered_class", "rhythm (recovered)", "{}"))
             if c in table.columns]
    lines += ["| image | " + "".join(f"{name} | " for _, name, _ in extra) + "doubts | overlay |",
              "|---|" + "---|" * len(extra) + "---|---|"]
    for row in table.to_dict(orient="records"):
        image_id = str(row["id"])
        link = f"[overlay]({overlays[image_id]})" if image_id in overlays else ""
        cells = "".join((fmt.format(row[c]) if pd.notna(row[c]) else "") + " | " for c, _, fmt in extra)
        details = (row["details"] or "none").replace("|", "/")
        lines.append(f"| {image_id} | {cells}{details} | {link} |")
    for heading, frame in (sections or {}).items():
        lines += ["", f"## {heading}", "", *markdown_table(frame)]
    return "\n".join(lines) + "\n"


def write_summary(path: Path, table: pd.DataFrame, overlays: Mapping[str, str], title: str = "Failure report",
                  sections: Mapping[str, pd.DataFrame] | None = None) -> None:
    write_text_atomic(path, summary_markdown(table, overlays, title, sections))
