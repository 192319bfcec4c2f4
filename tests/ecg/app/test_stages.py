"""End-to-end: `python -m pipeline ecg stage0..stage3` on a tiny synthetic competition."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.cli import main

pytestmark = pytest.mark.slow  # end-to-end: `make test-fast` leaves it out

TINY = ["--n-train", "1", "--n-test", "3", "--workers", "2"]


@pytest.fixture()
def roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var, name in (("PIPELINE_DATA", "data"), ("PIPELINE_WORK", "work"), ("PIPELINE_SUBMISSIONS", "subs")):
        monkeypatch.setenv(var, str(tmp_path / name))
    return tmp_path


def run(*argv: str) -> int:
    return main(["ecg", *argv])


def test_stages_end_to_end_deterministic_and_resumable(roots: Path, capsys) -> None:
    assert run("stage0", *TINY) == 0
    assert run("stage2", "--workers", "2") == 0
    submission = roots / "subs" / "ecg.csv"
    first = submission.read_bytes()
    sub = pd.read_csv(submission, dtype={"id": str})
    sample = pd.read_parquet(roots / "data" / "ecg" / "sample_submission.parquet")
    assert list(sub["id"]) == list(sample["id"].astype(str))
    assert np.isfinite(sub["value"]).all()

    capsys.readouterr()
    assert run("stage2") == 0  # unchanged: skipped, file untouched
    assert "skipped" in capsys.readouterr().out
    assert submission.read_bytes() == first

    assert run("stage3") == 0
    metrics = json.loads((roots / "work" / "ecg" / "report" / "metrics.json").read_text())
    assert metrics["images"] == 3 and np.isfinite(metrics["snr_db"])
    assert {row["image_type"] for row in metrics["per_type"]} == {"0001", "0003", "0004"}
    report = roots / "work" / "ecg" / "report"
    assert len(list(report.glob("worst_*.png"))) == 3
    # DESIGN 4.5: beats per image, rhythm against the true signal, the failure report linking overlays
    beats = sorted((roots / "work" / "ecg" / "beats").glob("*.csv"))
    assert len(beats) == 3 and set(pd.read_csv(beats[0])["source"]) == {"true", "recovered"}
    assert 0.0 <= metrics["beats"]["qrs_f1"] <= 1.0 and metrics["beats"]["tp"] > 0
    assert sum(sum(row.values()) for row in metrics["rhythm"]["confusion"].values()) == 3
    assert len(pd.read_csv(report / "rhythm.csv")) == 3 and (report / "rhythm_confusion.csv").exists()
    summary = (report / "failures.md").read_text()
    assert all(f"({p.name})" in summary for p in report.glob("worst_*.png"))
    assert len(pd.read_csv(report / "failures.csv", dtype={"id": str})) == 3
    parts = pd.read_csv(report / "error_parts.csv", dtype={"id": str})
    assert len(parts) == 3 * 12
    assert {"lag", "phase", "gain", "offset", "steep_share", "edge_share"} <= set(parts.columns)
    assert {row["lead"] for row in metrics["error_parts_per_lead"]} == set(parts["lead"])

    # from clean (data, work, submission removed): byte-identical submission
    for name in ("data", "work", "subs"):
        shutil.rmtree(roots / name)
    assert run("stage0", *TINY) == 0
    assert run("stage2", "--workers", "1") == 0
    assert submission.read_bytes() == first


def test_test_row_without_image_is_one_line_error(roots: Path, capsys) -> None:
    assert run("stage0", *TINY) == 0
    test_dir = roots / "data" / "ecg" / "test"
    victim = sorted(test_dir.glob("*.png"))[0]
    victim.unlink()
    capsys.readouterr()
    assert run("stage2") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "test.csv" in err[0] and victim.stem in err[0]
    assert not (roots / "subs" / "ecg.csv").exists()


def test_stage1_trains_a_segmenter_that_stage2_then_uses(roots: Path, capsys) -> None:
    from pipeline.ecg.app.stages import segmenter_checkpoint

    tiny = ["--epochs", "1", "--steps", "2", "--n-pages", "2", "--n-val-pages", "1", "--n-val-images", "1",
            "--workers", "1"]
    assert run("stage1", *tiny) == 0
    model = roots / "work" / "ecg" / "model"
    info = json.loads((model / "model.json").read_text())
    history = json.loads((model / "history.json").read_text())["history"]
    assert info["kind"] == "segmenter" and info["epochs_run"] == 1 and len(history) == 1
    assert np.isfinite(history[0]["val_snr_db"]) and 0.0 <= history[0]["val_iou"] <= 1.0
    assert (model / "curves.png").stat().st_size > 1000 and not (model / "candidate.pt").exists()
    assert info["command"].startswith("python -m pipeline ecg stage1 --epochs 1 --steps 2")
    assert segmenter_checkpoint() == model / "segment.pt"
    capsys.readouterr()
    assert run("stage1", *tiny) == 0
    assert "skipped" in capsys.readouterr().out


def _tree(root: Path) -> dict[str, bytes]:
    """Every file under root (manifests aside: they hold timings and paths) by relative path."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "manifest.json"}


def test_dask_backend_gives_the_same_files_and_submission(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """stage0 (rendering) and stage2 (digitizing) on a 2-worker LocalCluster write byte-identical data
    and submission to the local process pool's."""
    outputs = {}
    for backend in ("pool", "local"):
        root = tmp_path / backend
        for var, name in (("PIPELINE_DATA", "data"), ("PIPELINE_WORK", "work"), ("PIPELINE_SUBMISSIONS", "subs")):
            monkeypatch.setenv(var, str(root / name))
        extra = [] if backend == "pool" else ["--scheduler", "local"]
        assert run("stage0", *TINY, *extra) == 0
        assert run("stage2", "--workers", "2", *extra) == 0
        outputs[backend] = (_tree(root / "data"), (root / "subs" / "ecg.csv").read_bytes(),
                            (root / "work" / "ecg" / "stage2" / "failures.txt").read_bytes())
    pool, dask = outputs["pool"], outputs["local"]
    assert sorted(pool[0]) == sorted(dask[0]) and len(pool[0]) > 5
    assert [name for name in pool[0] if pool[0][name] != dask[0][name]] == []
    assert pool[1] == dask[1] and pool[2] == dask[2]


class KilledWorker(Exception):
    """Stands for distributed.KilledWorker (matched by name)."""


def test_an_image_whose_worker_died_twice_gets_the_flagged_fallback(tmp_path: Path) -> None:
    from pipeline.ecg.app.stages import _fallback_prediction, failure_lines
    from pipeline.ecg.formats.predictions import load_prediction

    cache = tmp_path / "7.npz"
    job = ("7", 250, "/x/7.png", str(cache), None)
    with pytest.raises(ModuleNotFoundError):  # a broken setup stops the stage and writes nothing
        _fallback_prediction(job, ModuleNotFoundError("No module named 'pipeline'"))
    assert not cache.exists()
    assert _fallback_prediction(job, KilledWorker("worker lost twice")) == str(cache)
    signals, _, diagnostics = load_prediction(cache)
    assert all(not np.any(v) for v in signals.values()) and len(signals["II"]) == 2500
    assert failure_lines("7", diagnostics["flags"]) == ["7: failed: /x/7.png: KilledWorker: worker lost twice"]
