"""stage3 for ECG: the submission scored against the hidden solution, per type and lead, with plots;
beats and rhythm of the recovered signals against the true ones; the failure report."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from pipeline.core.io import atomic_path, write_json_atomic  # noqa: E402
from pipeline.core.parallel import parallel_map  # noqa: E402
from pipeline.ecg.evaluation import beats as beat_tools  # noqa: E402
from pipeline.ecg.evaluation import rhythm as rhythm_tools  # noqa: E402
from pipeline.ecg.evaluation.decompose import decompose, median_parts  # noqa: E402
from pipeline.ecg.evaluation.failures import KINDS, doubt_regions, doubts, failure_table, write_summary  # noqa: E402
from pipeline.ecg.evaluation.metric import score_ratios, score_submission  # noqa: E402
from pipeline.ecg.evaluation.overlay import write_overlay  # noqa: E402
from pipeline.ecg.formats.competition import Competition  # noqa: E402
from pipeline.ecg.formats.predictions import load_prediction  # noqa: E402
from pipeline.ecg.formats.submission import read_test_csv  # noqa: E402
from pipeline.ecg.layout import LEADS, lead_window  # noqa: E402

N_WORST = 3
N_DOUBTFUL = 3
"""Besides the N_WORST lowest-SNR images, overlays of up to this many other images with the most doubts."""


def per_type_table(per_image: pd.DataFrame) -> pd.DataFrame:
    """SNR (dB, mean of linear ratios) and image count per image type."""
    rows = [(t, len(g), score_ratios(g["ratio"].to_numpy()), float(g["challenge2024_db"].mean()))
            for t, g in per_image.groupby("image_type", sort=True)]
    return pd.DataFrame(rows, columns=["image_type", "images", "snr_db", "challenge2024_db"])


def write_report(comp: Competition, submission: Path, predictions: Path, out: Path, beats_dir: Path,
                 heldout_records: Path | None = None, workers: int = 1) -> dict:
    test = read_test_csv(comp.test_csv)
    solution = pd.read_csv(comp.hidden / "solution.csv", dtype={"id": str})
    report = score_submission(solution, pd.read_csv(submission, dtype={"id": str}), test)
    types = pd.read_csv(comp.hidden / "test_types.csv", dtype={"id": str, "image_type": str})
    per_image = report.per_image.merge(types[["id", "image_type"]], on="id", how="left")
    per_type = per_type_table(per_image)

    _write_csv(per_image.sort_values("snr_db"), out / "per_image.csv")
    _write_csv(per_type, out / "per_type.csv")
    _write_csv(report.per_lead, out / "per_lead.csv")
    _plot_bars(per_type, "image_type", "SNR per image type", out / "snr_per_type.png")
    _plot_bars(report.per_lead, "lead", "SNR per lead", out / "snr_per_lead.png")

    fs_of = {str(i): int(f) for i, f in test.drop_duplicates("id")[["id", "fs"]].itertuples(index=False)}
    ids = list(per_image["id"])
    jobs = [(i, fs_of[i], str(predictions / f"{i}.npz"), str(comp.hidden / "signals" / f"{i}.csv"),
             str(beats_dir / f"{i}.csv")) for i in ids]
    analysed = parallel_map(_beats_job, jobs, workers, desc="delineate")
    beat_metrics = _beat_tables([a[0] for a in analysed], [a[1] for a in analysed], out)
    rhythm = pd.DataFrame([a[2] for a in analysed]).merge(types[["id", "image_type"]], on="id", how="left")
    rhythm_metrics = _rhythm_tables(rhythm, out)
    heldout_metrics = _heldout_rhythm(heldout_records, out) if heldout_records is not None else None
    error_parts = pd.DataFrame([row for a in analysed for row in a[3]])
    error_parts = error_parts.merge(types[["id", "image_type"]], on="id", how="left")
    _write_csv(error_parts, out / "error_parts.csv")
    parts_by_lead = median_parts(error_parts, "lead").reset_index()

    diagnostics = {i: load_prediction(predictions / f"{i}.npz")[2] for i in ids}
    failures = failure_table(diagnostics).merge(per_image[["id", "image_type", "snr_db"]], on="id")
    failures = failures.merge(_per_image_f1([a[0] for a in analysed]), on="id", how="left")
    failures = failures.merge(rhythm[["id", "true_class", "recovered_class"]], on="id", how="left")
    failures = failures.sort_values(["snr_db", "doubts"], ascending=[True, False])
    overlays = _overlays(comp, predictions, failures, diagnostics, out)
    _write_csv(failures, out / "failures.csv")
    sections = {"Rhythm: true lead II (rows) vs recovered lead II (columns)":
                rhythm_tools.confusion(list(rhythm["true_class"]), list(rhythm["recovered_class"]))}
    if heldout_metrics:
        sections["Held-out records: header SNOMED rhythm (rows) vs the record's lead II (columns)"] = \
            pd.DataFrame(heldout_metrics["confusion"]).T.rename_axis("true")
    write_summary(out / "failures.md", failures, overlays, title="ECG failure report (stage3, test split)",
                  sections=sections)

    metrics = {
        "snr_db": report.snr_db,
        "challenge2024_db": float(per_image["challenge2024_db"].mean()),
        "images": len(per_image),
        "per_type": per_type.to_dict(orient="records"),
        "per_lead": report.per_lead.to_dict(orient="records"),
        "error_parts_per_lead": parts_by_lead.to_dict(orient="records"),
        "worst_overlays": [name for name in overlays.values() if name.startswith("worst_")],
        "beats": beat_metrics,
        "rhythm": rhythm_metrics,
        "rhythm_heldout": heldout_metrics,
        "failures": {"images_with_doubts": int((failures["doubts"] > 0).sum()),
                     "by_kind": {k: int(failures[k].sum()) for k in KINDS},
                     "summary": "failures.md"},
    }
    write_json_atomic(out / "metrics.json", metrics)
    print(per_type.to_string(index=False))
    print(f"SNR {report.snr_db:.2f} dB over {len(per_image)} test images; report in {out}")
    print(f"QRS F1 {beat_metrics['qrs_f1']:.3f} (recovered vs true beats, 50 ms); rhythm agreement "
          f"{rhythm_metrics['agreement']:.2f} over {len(rhythm)} images"
          + (f"; held-out records vs SNOMED {heldout_metrics['agreement']:.2f} over {heldout_metrics['records']}"
             if heldout_metrics else ""))
    return {"snr_db": report.snr_db, "per_type": per_type.set_index("image_type")["snr_db"].to_dict(),
            "qrs_f1": beat_metrics["qrs_f1"], "rhythm_agreement": rhythm_metrics["agreement"]}


def _windows(record: pd.DataFrame, fs: int) -> dict[str, np.ndarray]:
    """Each lead's window values of a train-CSV-like record."""
    out = {}
    for lead in LEADS:
        a, b = lead_window(fs, lead)
        out[lead] = record[lead].to_numpy(np.float64)[a:b]
    return out


def _beats_job(job: tuple[str, int, str, str, str]) -> tuple[pd.DataFrame, pd.DataFrame, dict, list[dict]]:
    """Delineate one image's recovered and true leads, write beats/<id>.csv; (detection, errors,
    rhythm row, the error parts of each lead). Runs in a worker."""
    image_id, fs, cache, truth_csv, beats_csv = job
    signals = load_prediction(Path(cache))[0]
    true_signals = _windows(pd.read_csv(truth_csv), fs)
    parts = [{"id": image_id, "lead": lead, **found.to_dict()} for lead in LEADS
             if lead in signals and (found := decompose(true_signals[lead], signals[lead], fs)) is not None]
    recovered = beat_tools.delineate_leads(signals, fs)
    truth = beat_tools.delineate_leads(true_signals, fs)
    table = pd.concat([truth.assign(source="true"), recovered.assign(source="recovered")], ignore_index=True)
    _write_csv(table[["source", *beat_tools.COLUMNS]], Path(beats_csv))
    detection, errors = beat_tools.compare(truth, recovered)
    r_true = rhythm_tools.rhythm_of_beats(truth[truth["lead"] == "II"])
    r_rec = rhythm_tools.rhythm_of_beats(recovered[recovered["lead"] == "II"])
    row = {"id": image_id, "true_class": r_true.label, "recovered_class": r_rec.label,
           "true_hr": r_true.heart_rate, "recovered_hr": r_rec.heart_rate,
           "true_irregularity": r_true.irregularity, "recovered_irregularity": r_rec.irregularity,
           "true_beats": r_true.beats, "recovered_beats": r_rec.beats}
    return detection.assign(id=image_id), errors.assign(id=image_id), row, parts


def _per_image_f1(detections: list[pd.DataFrame]) -> pd.DataFrame:
    rows = [(d["id"].iloc[0], beat_tools.detection_summary(d)["qrs_f1"]) for d in detections if not d.empty]
    return pd.DataFrame(rows, columns=["id", "qrs_f1"])


def _beat_tables(detections: list[pd.DataFrame], errors: list[pd.DataFrame], out: Path) -> dict:
    detection = pd.concat(detections, ignore_index=True)
    found = [e for e in errors if not e.empty]
    error = pd.concat(found, ignore_index=True) if found else errors[0]
    summary = beat_tools.error_summary(error)
    per_lead = (detection.groupby("lead", sort=False)[["tp", "fp", "fn"]].sum().reset_index())
    per_lead["f1"] = [beat_tools.f1_score(*r) for r in per_lead[["tp", "fp", "fn"]].itertuples(index=False)]
    _write_csv(detection[["id", "lead", "tp", "fp", "fn", "f1"]], out / "beats_per_image_lead.csv")
    _write_csv(per_lead, out / "beats_per_lead.csv")
    _write_csv(summary, out / "beats_errors.csv")
    return {**beat_tools.detection_summary(detection), "tolerance_ms": 1000 * beat_tools.MATCH_TOLERANCE_S,
            "per_fiducial": summary.to_dict(orient="records")}


def _confusion_metrics(truth: pd.Series, predicted: pd.Series) -> dict:
    table = rhythm_tools.confusion(list(truth), list(predicted))
    return {"agreement": rhythm_tools.agreement(list(truth), list(predicted)),
            "confusion": {t: table.loc[t].to_dict() for t in table.index}}


def _rhythm_tables(rhythm: pd.DataFrame, out: Path) -> dict:
    _write_csv(rhythm, out / "rhythm.csv")
    table = rhythm_tools.confusion(list(rhythm["true_class"]), list(rhythm["recovered_class"]))
    with atomic_path(out / "rhythm_confusion.csv") as tmp:
        table.to_csv(tmp)
    hr_error = (rhythm["recovered_hr"] - rhythm["true_hr"]).abs()
    return {**_confusion_metrics(rhythm["true_class"], rhythm["recovered_class"]),
            "rows": "rhythm of the true lead II", "columns": "rhythm of the recovered lead II",
            "hr_mae_bpm": float(hr_error.mean()) if hr_error.notna().any() else None}


def _heldout_rhythm(records: Path, out: Path) -> dict | None:
    """Rhythm of real records' true lead II against their headers' SNOMED codes (no images involved)."""
    if not records.is_dir():
        return None
    table = rhythm_tools.heldout_rhythms(records)
    if table.empty:
        return None
    _write_csv(table, out / "rhythm_heldout.csv")
    confusion = rhythm_tools.confusion(list(table["dx_class"]), list(table["true_signal_class"]))
    with atomic_path(out / "rhythm_heldout_confusion.csv") as tmp:
        confusion.to_csv(tmp)
    return {**_confusion_metrics(table["dx_class"], table["true_signal_class"]), "records": len(table),
            "rows": "SNOMED rhythm code in the header", "columns": "rhythm of the record's lead II"}


def _overlays(comp: Competition, predictions: Path, failures: pd.DataFrame, diagnostics: dict,
              out: Path) -> dict[str, str]:
    """Overlays (recovered traces and doubt boxes on the image) of the N_WORST lowest-SNR images and
    of up to N_DOUBTFUL more with the most doubts; file name by id."""
    worst = list(failures.nsmallest(N_WORST, "snr_db")["id"])
    rest = failures[~failures["id"].isin(worst) & (failures["doubts"] > 0)]
    doubtful = list(rest.sort_values(["doubts", "snr_db"], ascending=[False, True])["id"][:N_DOUBTFUL])
    names = {}
    for prefix, chosen in (("worst", worst), ("doubtful", doubtful)):
        for k, image_id in enumerate(chosen, 1):
            row = failures[failures["id"] == image_id].iloc[0]
            _, paths, _ = load_prediction(predictions / f"{image_id}.npz")
            name = f"{prefix}_{k}_{image_id}.png"
            found = doubts(diagnostics[image_id])
            title = f"{image_id} type {row['image_type']}: {row['snr_db']:.1f} dB" + (
                f"; {', '.join(sorted({d.kind for d in found}))}" if found else "")
            write_overlay(comp.test_image(image_id), paths, out / name, title=title,
                          regions=doubt_regions(diagnostics[image_id]))
            names[image_id] = name
    return names


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.4f")


def _plot_bars(table: pd.DataFrame, key: str, title: str, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar(table[key].astype(str), table["snr_db"], color="#4a7ab5")
    ax.set_ylabel("SNR (dB)")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
