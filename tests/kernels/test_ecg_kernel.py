"""The ECG kernel notebook, executed headlessly on a fake /kaggle/input: the synthetic competition plus
the wheels dataset, from which the notebook installs the project as it would offline on Kaggle."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipeline.core.kaggle_dataset import DATASET_SLUG, build_dataset
from pipeline.ecg.formats.competition import Competition
from pipeline.ecg.formats.submission import read_sample_submission, validate_submission
from pipeline.ecg.synth.render import make_competition
from tests.kernels.notebook import run_kernel

pytestmark = pytest.mark.slow  # end-to-end: `make test-fast` leaves it out

SLUG = "physionet-ecg-image-digitization"


def test_ecg_kernel_installs_offline_and_writes_a_valid_submission(
        kaggle_tree: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Kaggle's newer mount layout, /kaggle/input/competitions/<slug>, which the notebook must find.
    comp = Competition(kaggle_tree["input"] / "competitions" / SLUG)
    make_competition(comp.root, n_train=1, n_test=2, seed=0, workers=2)
    # The dataset without dependency wheels (no network): this venv has the dependencies.
    build_dataset(kaggle_tree["input"] / DATASET_SLUG, download=False, model_dir=tmp_path / "no-model")
    # The kernel cannot import the checkout (cwd is the working dir); pip installs into site/, on its path.
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.setenv("PIP_TARGET", str(site))
    monkeypatch.setenv("PYTHONPATH", str(site))

    run_kernel("ecg-digitization", cwd=kaggle_tree["working"])

    assert (site / "pipeline" / "ecg" / "app" / "stages.py").is_file()  # installed from the wheel
    target = kaggle_tree["working"] / "submission.csv"
    submission = pd.read_csv(target, dtype={"id": str})
    validate_submission(submission, read_sample_submission(comp.sample_submission), target)
    assert not (kaggle_tree["scratch"] / "data" / "ecg" / "train").exists()  # only the test side is linked
