"""The synthetic competition: signals, page geometry, ground truth on ink, Kaggle file layout, determinism."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from scipy.signal import find_peaks

from pipeline.core.errors import PipelineError
from pipeline.core.seeding import rng_for
from pipeline.ecg.layout import DEFAULT_LAYOUT, LEADS, ROWS, PageLayout, lead_window, n_samples
from pipeline.ecg.synth.render import (
    ALL_TYPES,
    IMAGE_TYPES,
    PageStyle,
    degrade,
    make_competition,
    random_layout,
    random_style,
    render_page,
    simulate_record,
)
from pipeline.ecg.synth.waveforms import EcgSpec, draw_spec, simulate

TYPES = ALL_TYPES


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


def _style(**changes: object) -> PageStyle:
    return replace(random_style(rng_for(4, "style")), **changes)


def _read_ids(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"id": str, "image_type": str})


# ---------------------------------------------------------------- signals
def test_simulated_record_shape_limb_leads_and_determinism() -> None:
    fs = 1025
    rec = simulate_record(fs, rng_for(0, "sim"))
    assert list(rec.columns) == list(LEADS) and len(rec) == fs * 10
    assert np.isfinite(rec.to_numpy()).all()
    _limb_relations_hold(rec)
    span = rec.max() - rec.min()
    assert (span > 0.1).all() and (span < 6.0).all()  # mV-sized, not flat, not wild
    assert simulate_record(fs, rng_for(0, "sim")).equals(rec)


def _limb_relations_hold(rec: pd.DataFrame) -> None:
    lead_i, lead_ii = rec["I"], rec["II"]
    np.testing.assert_allclose(rec["III"], lead_ii - lead_i, rtol=0, atol=1e-12)
    np.testing.assert_allclose(rec["aVR"], -(lead_i + lead_ii) / 2, rtol=0, atol=1e-12)
    np.testing.assert_allclose(rec["aVL"], lead_i - lead_ii / 2, rtol=0, atol=1e-12)
    np.testing.assert_allclose(rec["aVF"], lead_ii - lead_i / 2, rtol=0, atol=1e-12)


def test_every_drawn_record_keeps_limb_relations_and_stays_plausible() -> None:
    for k in range(40):
        fs = (250, 256, 500, 512, 1000, 1025)[k % 6]
        rec = simulate_record(fs, rng_for(1, "many", k))
        assert len(rec) == fs * 10 and np.isfinite(rec.to_numpy()).all()
        _limb_relations_hold(rec)
        assert (rec.abs().max() < 8.0).all() and (rec.max() - rec.min()).max() > 0.2


def test_drawn_specs_cover_the_variety_of_real_ecgs() -> None:
    specs = [draw_spec(rng_for(2, "spec", k)) for k in range(400)]
    rates = np.array([s.heart_rate for s in specs])
    assert rates.min() >= 40 and rates.max() <= 180 and rates.min() < 45 and rates.max() > 165
    assert {s.rhythm for s in specs} == {"sinus", "af"}
    assert {s.ectopy for s in specs} == {"none", "pvc", "pac"}
    assert {s.conduction for s in specs} == {"normal", "rbbb", "lbbb", "ivcd"}
    assert {s.st_pattern for s in specs} == {"none", "anterior", "inferior", "lateral", "depression"}
    assert min(s.qrs_s for s in specs if s.conduction in ("rbbb", "lbbb")) >= 0.12
    amps = np.array([s.amplitude * s.chest_gain for s in specs])
    assert amps.min() < 0.5 and amps.max() > 2.0  # low and high voltage
    assert any(s.muscle_mv > 0 for s in specs) and max(s.wander_mv for s in specs) > 0.2
    with pytest.raises(ValueError):
        EcgSpec(heart_rate=200.0)


def _r_peaks(spec: EcgSpec, fs: int = 500, seed: int = 0) -> np.ndarray:
    """R-peak times (s) of lead II of a quiet record of `spec`."""
    rec = simulate(spec, fs, rng_for(seed, "peaks"))
    ii = rec["II"].to_numpy()
    peaks, _ = find_peaks(ii, height=0.5 * ii.max(), distance=int(0.25 * fs))
    return peaks / fs


QUIET = dict(noise_mv=0.0, wander_mv=0.0, axis_deg=0.0, amplitude=1.0)


@pytest.mark.parametrize("hr", [40.0, 75.0, 180.0])
def test_heart_rate_is_honoured(hr: float) -> None:
    rr = np.diff(_r_peaks(EcgSpec(heart_rate=hr, hr_variability=0.01, **QUIET)))
    assert abs(60.0 / rr.mean() - hr) < 0.06 * hr
    assert rr.std() / rr.mean() < 0.05  # sinus: regular


def test_atrial_fibrillation_is_irregular_and_ectopics_come_early() -> None:
    rr = np.diff(_r_peaks(EcgSpec(heart_rate=100.0, rhythm="af", hr_variability=0.25, **QUIET)))
    assert rr.std() / rr.mean() > 0.1 and abs(60.0 / rr.mean() - 100.0) < 20.0
    sinus = simulate(EcgSpec(heart_rate=70.0, **QUIET), 500, rng_for(0, "af"))
    af = simulate(EcgSpec(heart_rate=70.0, rhythm="af", hr_variability=0.2, **QUIET), 500, rng_for(0, "af"))
    assert not np.allclose(sinus["II"], af["II"])
    spec = EcgSpec(heart_rate=70.0, ectopy="pac", ectopic_rate=0.3, **QUIET)
    rr = np.diff(_r_peaks(spec, seed=3))
    assert rr.min() < 0.88 * np.median(rr)  # premature beats


def test_bundle_branch_block_widens_the_qrs() -> None:
    def width(spec: EcgSpec) -> float:
        """Time lead V1 spends beyond 30% of its largest excursion, per beat (s)."""
        v1 = np.abs(simulate(spec, 1000, rng_for(0, "w"))["V1"].to_numpy())
        return float((v1 > 0.3 * v1.max()).sum() / 1000 / len(_r_peaks(spec, 1000)))

    normal = width(EcgSpec(qrs_s=0.08, **QUIET))
    assert width(EcgSpec(conduction="rbbb", qrs_s=0.15, **QUIET)) > 1.3 * normal
    assert width(EcgSpec(conduction="lbbb", qrs_s=0.16, **QUIET)) > 1.3 * normal


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


def test_page_variety_offsets_clipping_and_overlap() -> None:
    styles = [random_style(rng_for(3, "style", k)) for k in range(300)]
    assert {s.grid for s in styles} == {"red", "pink", "brown", "blue", "green", "none"}
    assert {s.thickness for s in styles} == {1, 2, 3} and {s.calibration for s in styles} == {True, False}
    assert len({s.font for s in styles}) >= 5 and any(s.clip_mv for s in styles) and any(not s.clip_mv for s in styles)
    layouts = [random_layout(rng_for(3, "layout", k)) for k in range(50)]
    dx = np.array([lay.x0 - DEFAULT_LAYOUT.x0 for lay in layouts])
    dy = np.array([np.subtract(lay.baselines, DEFAULT_LAYOUT.baselines) for lay in layouts])
    assert 0 < np.abs(dx).max() <= 12 and 0 < np.abs(dy).max() <= 15 and dx.std() > 2
    # a big QRS runs into the next row unless the printer clips it at the row border
    fs, rec = 250, _toy_record(250) * 3.0
    lay = random_layout(rng_for(3, "layout", 0))
    free = render_page(rec, fs, np.random.default_rng(0), lay, _style(clip_mv=None))
    clipped = render_page(rec, fs, np.random.default_rng(0), lay, _style(clip_mv=1.5))
    gap = lay.baselines[1] - lay.baselines[0]
    assert free.paths["V1@0"][:, 1].max() - lay.baselines[0] > gap / 2  # a deep S runs into row 1
    np.testing.assert_allclose(np.abs(clipped.paths["V1@0"][:, 1] - lay.baselines[0]).max(), 1.5 * lay.px_per_mv)
    assert clipped.info["clip_mv"] == 1.5 and free.layout is lay


def test_unknown_image_type_is_refused() -> None:
    page = render_page(_toy_record(250), 250, np.random.default_rng(0))
    with pytest.raises(PipelineError, match="unknown image type"):
        degrade(page, "0099", np.random.default_rng(0))
    assert set(ALL_TYPES) == set(IMAGE_TYPES)


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
            assert on > off + (30 if image_type == "0006" else 50), (image_type, on, off)
            meta = json.loads((stem.parent / f"{stem.name}.meta.json").read_text())
            assert meta["image_type"] == image_type and meta["fs"] == fs and len(meta["layout"]["baselines"]) == 4
            if image_type in ("0009", "0010"):  # cockled or crumpled paper: not a homography
                assert meta["transform"] is None
            elif image_type != "0005":  # a photo is a homography unless the page curls
                assert np.asarray(meta["transform"]).shape == (3, 3)


def test_train_paths_of_clean_image_match_the_csv(comp: Path) -> None:
    train = _read_ids(comp / "train.csv")
    image_id, fs = train["id"][0], int(train["fs"][0])
    frame = pd.read_csv(comp / "train" / image_id / f"{image_id}.csv")
    paths = np.load(comp / "train" / image_id / f"{image_id}-0001.paths.npz")
    meta = json.loads((comp / "train" / image_id / f"{image_id}-0001.meta.json").read_text())
    lay = PageLayout(x0=meta["layout"]["x0"], baselines=tuple(meta["layout"]["baselines"]))
    moved = (lay.x0, lay.baselines) != (DEFAULT_LAYOUT.x0, DEFAULT_LAYOUT.baselines)
    assert moved or meta["kit"]  # offsets recorded; kit-style pages stand unmoved on KIT_LAYOUT
    np.testing.assert_array_equal(meta["transform"], np.eye(3))
    for key in paths.files:
        lead, row = key.split("@")
        pts = paths[key]
        start = int(round((pts[0, 0] - lay.x0) / lay.px_per_s * fs))
        i = np.arange(start, start + len(pts))
        assert np.array_equal(pts[:, 0], lay.x0 + (i / fs) * lay.px_per_s)
        mv = frame[lead].to_numpy()[i]  # the CSV is rounded to 0.1 uV
        if meta["clip_mv"] is not None:
            mv = np.clip(mv, -meta["clip_mv"], meta["clip_mv"])
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
    assert list(kinds["id"]) == ids and list(kinds["image_type"]) == list(TYPES[:3])
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
