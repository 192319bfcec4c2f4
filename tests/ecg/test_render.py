"""The synthetic competition: signals, page geometry, ground truth on ink, Kaggle file layout, determinism."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from pipeline.core.errors import PipelineError
from pipeline.core.seeding import rng_for
from pipeline.ecg.layout import DEFAULT_LAYOUT, LEADS, ROWS, lead_window, n_samples
from pipeline.ecg.render import IMAGE_TYPES, degrade, make_competition, render_page, simulate_record

TYPES = ("0001", "0003", "0004")


def _toy_record(fs: int) -> pd.DataFrame:
    """A fast stand-in for simulate_record: spiky periodic leads that obey the limb-lead relations."""
    t = np.arange(fs * 10) / fs
    beat = np.sin(np.pi * 1.2 * t) ** 16
    lead_i, lead_ii = 0.6 * beat - 0.05, 1.1 * np.roll(beat, fs // 50) + 0.1 * np.sin(2 * np.pi * 0.3 * t)
    leads = {"I": lead_i, "II": lead_ii, "III": lead_ii - lead_i, "aVR": -(lead_i + lead_ii) / 2,
             "aVL": lead_i - lead_ii / 2, "aVF": lead_ii - lead_i / 2}
    leads.update({f"V{k}": (k - 2.5) * 0.5 * beat for k in range(1, 7)})
    return pd.DataFrame({lead: leads[lead] for lead in LEADS})


def _darkness(image: np.ndarray) -> np.ndarray:
    return 255.0 - cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float64)


def _on_off_darkness(dark: np.ndarray, paths: dict[str, np.ndarray], shift: int = 6) -> tuple[float, float]:
    """Mean darkness under the rounded path points, and at the points moved `shift` px up and down."""
    h, w = dark.shape
    pts = np.round(np.concatenate(list(paths.values()))).astype(int)
    pts = pts[(pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= shift) & (pts[:, 1] < h - shift)]
    on = dark[pts[:, 1], pts[:, 0]].mean()
    off = (dark[pts[:, 1] - shift, pts[:, 0]].mean() + dark[pts[:, 1] + shift, pts[:, 0]].mean()) / 2
    return float(on), float(off)


@pytest.fixture(scope="module")
def comp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("render") / "ecg"
    make_competition(root, n_train=1, n_test=3, seed=7, types=TYPES)
    return root


def _read_ids(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"id": str, "image_type": str})


# ---------------------------------------------------------------- signals
def test_simulated_record_shape_limb_leads_and_determinism() -> None:
    fs = 1025
    rec = simulate_record(fs, rng_for(0, "sim"))
    assert list(rec.columns) == list(LEADS) and len(rec) == fs * 10
    assert np.isfinite(rec.to_numpy()).all()
    lead_i, lead_ii = rec["I"], rec["II"]
    np.testing.assert_allclose(rec["III"], lead_ii - lead_i, rtol=0, atol=1e-12)
    np.testing.assert_allclose(rec["aVR"], -(lead_i + lead_ii) / 2, rtol=0, atol=1e-12)
    np.testing.assert_allclose(rec["aVL"], lead_i - lead_ii / 2, rtol=0, atol=1e-12)
    np.testing.assert_allclose(rec["aVF"], lead_ii - lead_i / 2, rtol=0, atol=1e-12)
    span = rec.max() - rec.min()
    assert (span > 0.1).all() and (span < 6.0).all()  # mV-sized, not flat, not wild
    assert simulate_record(fs, rng_for(0, "sim")).equals(rec)


# ---------------------------------------------------------------- pages and degradations
def test_clean_page_paths_follow_layout_exactly() -> None:
    fs, rec = 500, _toy_record(500)
    page = render_page(rec, fs, np.random.default_rng(0))
    lay = DEFAULT_LAYOUT
    assert page.image.shape == (lay.height, lay.width, 3) and page.image.dtype == np.uint8
    assert page.row_mask.shape == (lay.height, lay.width) and set(np.unique(page.row_mask)) == {0, 1, 2, 3, 4}
    expected = {f"{lead}@{r}" for r, row in enumerate(ROWS[:3]) for lead in row} | {"II@3"}
    assert set(page.paths) == expected
    per = fs * 10 // 4
    for key, pts in page.paths.items():
        lead, row = key.split("@")
        col = 0 if row == "3" else ROWS[int(row)].index(lead)
        start, stop = (0, fs * 10) if row == "3" else (col * per, (col + 1) * per)
        i = np.arange(start, stop)
        assert np.array_equal(pts[:, 0], lay.x0 + (i / fs) * lay.px_per_s)
        assert np.array_equal(pts[:, 1], lay.y_of_mv(int(row), rec[lead].to_numpy()[start:stop]))
    assert degrade(page, "0001", np.random.default_rng(1)) is page


@pytest.mark.parametrize("image_type", TYPES)
def test_ground_truth_stays_on_ink(image_type: str) -> None:
    page = render_page(_toy_record(250), 250, np.random.default_rng(3))
    shot = degrade(page, image_type, np.random.default_rng(4))
    assert shot.image.shape == page.image.shape and shot.row_mask.shape == page.row_mask.shape
    dark = _darkness(shot.image)
    on, off = _on_off_darkness(dark, shot.paths)
    assert on > 150 and on > off + 100, (on, off)
    assert dark[shot.row_mask > 0].mean() > 150
    # the geometry moved paths exactly as the transform says
    m = shot.transform
    for key, pts in page.paths.items():
        np.testing.assert_allclose(shot.paths[key], pts @ m[:2, :2].T + m[:2, 2], atol=1e-9)
    if image_type != "0001":
        assert not np.allclose(m, np.eye(3))


def test_unknown_image_type_is_refused() -> None:
    page = render_page(_toy_record(250), 250, np.random.default_rng(0))
    with pytest.raises(PipelineError, match="unknown image type"):
        degrade(page, "0099", np.random.default_rng(0))
    assert {"0001", "0003", "0004"} <= set(IMAGE_TYPES)


# ---------------------------------------------------------------- the competition folder
def test_train_files_follow_kaggle_layout(comp: Path) -> None:
    train = _read_ids(comp / "train.csv")
    assert list(train.columns) == ["id", "fs", "sig_len"] and len(train) == 1
    for image_id, fs, sig_len in train.itertuples(index=False):
        assert image_id.isdigit() and 8 <= len(image_id) <= 10
        assert sig_len == fs * 10
        frame = pd.read_csv(comp / "train" / image_id / f"{image_id}.csv")
        assert list(frame.columns) == list(LEADS) and len(frame) == sig_len
        for lead in LEADS:
            start, stop = lead_window(fs, lead)
            present = frame[lead].notna().to_numpy()
            assert present[start:stop].all() and present.sum() == stop - start
        for image_type in TYPES:
            stem = comp / "train" / image_id / f"{image_id}-{image_type}"
            image = cv2.imread(str(stem) + ".png", cv2.IMREAD_UNCHANGED)
            assert image.shape == (1700, 2200, 3)
            mask = cv2.imread(str(stem) + ".mask.png", cv2.IMREAD_UNCHANGED)
            assert mask.shape == (1700, 2200) and mask.max() == 4
            paths = dict(np.load(str(stem) + ".paths.npz"))
            assert len(paths) == 13 and all(p.ndim == 2 and p.shape[1] == 2 for p in paths.values())
            dark = _darkness(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
            on, off = _on_off_darkness(dark, paths)
            assert on > off + 80, (image_type, on, off)
            assert dark[mask > 0].mean() > 120, image_type


def test_train_paths_of_clean_image_match_the_csv(comp: Path) -> None:
    train = _read_ids(comp / "train.csv")
    image_id, fs = train["id"][0], int(train["fs"][0])
    frame = pd.read_csv(comp / "train" / image_id / f"{image_id}.csv")
    paths = np.load(comp / "train" / image_id / f"{image_id}-0001.paths.npz")
    lay = DEFAULT_LAYOUT
    for key in paths.files:
        lead, row = key.split("@")
        pts = paths[key]
        start = int(round((pts[0, 0] - lay.x0) / lay.px_per_s * fs))
        i = np.arange(start, start + len(pts))
        assert np.array_equal(pts[:, 0], lay.x0 + (i / fs) * lay.px_per_s)
        mv = frame[lead].to_numpy()[i]  # the CSV is rounded to 0.1 uV
        np.testing.assert_allclose(pts[:, 1], lay.y_of_mv(int(row), mv), atol=0.51e-4 * lay.px_per_mv)


def test_test_csv_sample_submission_and_solution_agree(comp: Path) -> None:
    test = _read_ids(comp / "test.csv")
    assert list(test.columns) == ["id", "lead", "fs", "number_of_rows"]
    ids = list(dict.fromkeys(test["id"]))
    assert len(ids) == 3 and len(test) == 36
    assert not set(ids) & set(_read_ids(comp / "train.csv")["id"])
    expected_ids = []
    for image_id, group in test.groupby("id", sort=False):
        assert list(group["lead"]) == list(LEADS)
        fs = int(group["fs"].iloc[0])
        assert list(group["number_of_rows"]) == [n_samples(fs, lead) for lead in LEADS]
        assert (comp / "test" / f"{image_id}.png").exists()
        assert (comp / "hidden" / f"{image_id}.mask.png").exists()
        assert (comp / "hidden" / f"{image_id}.paths.npz").exists()
        expected_ids += [f"{image_id}_{r}_{lead}" for lead, n in zip(group["lead"], group["number_of_rows"])
                         for r in range(n)]
    sample = pd.read_parquet(comp / "sample_submission.parquet")
    assert list(sample.columns) == ["id", "value"] and list(sample["id"]) == expected_ids
    assert (sample["value"] == 0.0).all()
    solution = pd.read_csv(comp / "hidden" / "solution.csv", dtype={"id": str})
    assert list(solution["id"]) == expected_ids and solution["value"].notna().all()
    kinds = _read_ids(comp / "hidden" / "test_types.csv")
    assert list(kinds["id"]) == ids and list(kinds["image_type"]) == list(TYPES)
    # solution values are the true signal's window samples
    first = ids[0]
    truth = pd.read_csv(comp / "hidden" / "signals" / f"{first}.csv")
    fs = int(kinds["fs"][0])
    start, stop = lead_window(fs, "V1")
    got = solution.set_index("id").loc[[f"{first}_{r}_V1" for r in range(stop - start)], "value"]
    np.testing.assert_array_equal(got.to_numpy(), truth["V1"].to_numpy()[start:stop])


def test_same_seed_gives_identical_bytes_with_any_worker_count(comp: Path, tmp_path: Path) -> None:
    again = tmp_path / "ecg"
    make_competition(again, n_train=1, n_test=3, seed=7, types=TYPES, workers=2)
    files = sorted(p.relative_to(comp) for p in comp.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    different = [str(f) for f in files if (comp / f).read_bytes() != (again / f).read_bytes()]
    assert not different


def test_empty_competition_and_bad_arguments(tmp_path: Path) -> None:
    make_competition(tmp_path / "empty", n_train=0, n_test=0)
    assert list(_read_ids(tmp_path / "empty" / "train.csv").columns) == ["id", "fs", "sig_len"]
    assert len(pd.read_parquet(tmp_path / "empty" / "sample_submission.parquet")) == 0
    assert (tmp_path / "empty" / "train").is_dir() and (tmp_path / "empty" / "test").is_dir()
    with pytest.raises(PipelineError, match="image types"):
        make_competition(tmp_path / "bad", n_train=1, n_test=0, types=("0001", "0042"))
