"""stage3 for ECG: the submission scored against the hidden solution, per type and lead, with plots."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from pipeline.core.io import atomic_path, write_json_atomic  # noqa: E402
from pipeline.ecg.competition import Competition  # noqa: E402
from pipeline.ecg.metric import score_ratios, score_submission  # noqa: E402
from pipeline.ecg.overlay import write_overlay  # noqa: E402
from pipeline.ecg.submit import read_test_csv  # noqa: E402

N_WORST = 3


def per_type_table(per_image: pd.DataFrame) -> pd.DataFrame:
    """SNR (dB, mean of linear ratios) and image count per image type."""
    rows = [(t, len(g), score_ratios(g["ratio"].to_numpy()), float(g["challenge2024_db"].mean()))
            for t, g in per_image.groupby("image_type", sort=True)]
    return pd.DataFrame(rows, columns=["image_type", "images", "snr_db", "challenge2024_db"])


def write_report(comp: Competition, submission: Path, predictions: Path, out: Path) -> dict:
    from pipeline.ecg.stages import load_prediction

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

    worst = per_image.nsmallest(N_WORST, "snr_db")
    overlays = []
    for image_id, snr, image_type in zip(worst["id"], worst["snr_db"], worst["image_type"]):
        _, paths, _ = load_prediction(predictions / f"{image_id}.npz")
        name = f"worst_{len(overlays) + 1}_{image_id}.png"
        write_overlay(comp.test_image(image_id), paths, out / name,
                      title=f"{image_id} type {image_type}: {snr:.1f} dB")
        overlays.append(name)

    metrics = {
        "snr_db": report.snr_db,
        "challenge2024_db": float(per_image["challenge2024_db"].mean()),
        "images": len(per_image),
        "per_type": per_type.to_dict(orient="records"),
        "per_lead": report.per_lead.to_dict(orient="records"),
        "worst_overlays": overlays,
    }
    write_json_atomic(out / "metrics.json", metrics)
    print(per_type.to_string(index=False))
    print(f"SNR {report.snr_db:.2f} dB over {len(per_image)} test images; report in {out}")
    return {"snr_db": report.snr_db, "per_type": per_type.set_index("image_type")["snr_db"].to_dict()}


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
