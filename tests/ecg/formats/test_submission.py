"""Tests of the submission writer: id format and order, repair of bad predictions, validation, bytes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.core.errors import PipelineError
from pipeline.ecg.evaluation import metric
from pipeline.ecg.formats import submission as S
from pipeline.ecg.layout import LEADS, n_samples


def make_test_csv(ids_fs: dict[str, int]) -> pd.DataFrame:
    rows = [(i, lead, fs, n_samples(fs, lead)) for i, fs in ids_fs.items() for lead in LEADS]
    return pd.DataFrame(rows, columns=list(S.TEST_COLUMNS))


def sample_for(test_csv: pd.DataFrame) -> pd.DataFrame:
    ids = [f"{r.id}_{k}_{r.lead}" for r in test_csv.itertuples() for k in range(r.number_of_rows)]
    return pd.DataFrame({"id": ids, "value": 0.0})


def random_predictions(test_csv: pd.DataFrame, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, np.ndarray]] = {}
    for r in test_csv.itertuples():
        out.setdefault(r.id, {})[r.lead] = rng.normal(0, 0.5, r.number_of_rows)
    return out


# --------------------------------------------------------------------------- build


def test_build_submission_ids_order_and_values() -> None:
    test_csv = make_test_csv({"62": 250, "17": 500})
    preds = random_predictions(test_csv)
    sub = S.build_submission(test_csv, preds)
    assert list(sub.columns) == ["id", "value"]
    assert len(sub) == test_csv["number_of_rows"].sum() == (2500 + 11 * 625) + (5000 + 11 * 1250)
    assert list(sub["id"].iloc[:2]) == ["62_0_I", "62_1_I"]
    assert sub["id"].iloc[625] == "62_0_II"
    assert sub["id"].iloc[-1] == "17_1249_V6"
    pd.testing.assert_frame_equal(sub[["id"]], sample_for(test_csv)[["id"]])
    np.testing.assert_array_equal(sub["value"].iloc[:625], preds["62"]["I"])


def test_missing_leads_and_images_become_zeros() -> None:
    test_csv = make_test_csv({"1": 250, "2": 250})
    preds = {"1": {"I": np.ones(625)}}
    sub = S.build_submission(test_csv, preds)
    assert (sub["value"].iloc[:625] == 1).all()
    assert (sub["value"].iloc[625:] == 0).all()


def test_int_keys_are_accepted() -> None:
    test_csv = make_test_csv({"5": 250})
    sub = S.build_submission(test_csv, {5: {"V6": np.full(625, 2.0)}})
    assert (sub.set_index("id").loc["5_0_V6":"5_624_V6", "value"] == 2.0).all()


def test_fit_lead_interpolates_gaps_then_resamples() -> None:
    np.testing.assert_allclose(S.fit_lead(np.array([0.0, np.nan, 2.0, np.inf, 4.0]), 5), [0, 1, 2, 3, 4])
    np.testing.assert_allclose(S.fit_lead(np.array([np.nan, 1.0, 3.0, np.nan]), 4), [1, 1, 3, 3])
    # time-aligned start: target row j reads source position j * 4 / 8
    np.testing.assert_allclose(S.fit_lead(np.array([0.0, 2.0, 4.0, 6.0]), 8), [0, 1, 2, 3, 4, 5, 6, 6])
    np.testing.assert_allclose(S.fit_lead(np.arange(8.0), 4), [0, 2, 4, 6])
    assert (S.fit_lead(np.full(7, np.nan), 3) == 0).all()
    assert (S.fit_lead(None, 3) == 0).all()
    assert S.fit_lead(np.array([5.0]), 3).tolist() == [5, 5, 5]


def test_build_submission_repairs_bad_leads() -> None:
    test_csv = make_test_csv({"3": 250})
    sub = S.build_submission(test_csv, {"3": {"II": np.full(100, np.nan), "I": np.linspace(0, 1, 1250)}})
    assert np.isfinite(sub["value"]).all()
    assert len(sub) == test_csv["number_of_rows"].sum()
    S.validate_submission(sub, sample_for(test_csv))


# --------------------------------------------------------------------------- validate


def test_validate_accepts_and_rejects() -> None:
    test_csv = make_test_csv({"9": 250})
    sample = sample_for(test_csv)
    sub = S.build_submission(test_csv, random_predictions(test_csv))
    S.validate_submission(sub, sample)

    swapped = sub.copy()
    swapped.iloc[[3, 4]] = swapped.iloc[[4, 3]].to_numpy()
    with pytest.raises(PipelineError, match=r"row 3: '9_4_I' instead of '9_3_I'"):
        S.validate_submission(swapped, sample)
    with pytest.raises(PipelineError, match="rows"):
        S.validate_submission(sub.iloc[:-1], sample)
    with pytest.raises(PipelineError, match="'value' column"):
        S.validate_submission(sub.rename(columns={"value": "v"}), sample)
    bad = sub.copy()
    bad.loc[10, "value"] = np.nan
    bad.loc[11, "value"] = np.inf
    with pytest.raises(PipelineError, match="2 NaN or inf values, first at id 9_10_I"):
        S.validate_submission(bad, sample)
    with pytest.raises(PipelineError, match="not numeric"):
        S.validate_submission(sub.assign(value="1.0"), sample)


def test_validate_names_the_file(tmp_path: Path) -> None:
    test_csv = make_test_csv({"9": 250})
    sub = S.build_submission(test_csv, {}).assign(value=np.nan)
    with pytest.raises(PipelineError) as err:
        S.validate_submission(sub, sample_for(test_csv), tmp_path / "out.csv")
    assert str(err.value).startswith(str(tmp_path / "out.csv") + ": ")
    assert "\n" not in str(err.value)


# --------------------------------------------------------------------------- write


def test_write_is_deterministic_and_formatted(tmp_path: Path) -> None:
    test_csv = make_test_csv({"4": 250})
    sample = sample_for(test_csv)
    sub = S.build_submission(test_csv, random_predictions(test_csv, seed=3))
    sub.loc[0, "value"] = -1e-9  # rounds to -0: written as 0
    a, b = tmp_path / "a.csv", tmp_path / "sub" / "b.csv"
    S.write_submission(sub, a, sample)
    S.write_submission(sub.copy(), b, sample)
    assert a.read_bytes() == b.read_bytes()
    lines = a.read_text().splitlines()
    assert lines[0] == "id,value"
    assert lines[1] == "4_0_I,0.00000"
    assert all(len(line.split(",")[1].split(".")[1]) == 5 for line in lines[1:])
    back = pd.read_csv(a)
    np.testing.assert_allclose(back["value"].to_numpy()[1:], sub["value"].to_numpy()[1:], atol=5e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "sub"]  # no temp files left


def test_write_refuses_invalid_and_keeps_old_file(tmp_path: Path) -> None:
    test_csv = make_test_csv({"4": 250})
    sample = sample_for(test_csv)
    path = tmp_path / "s.csv"
    S.write_submission(S.build_submission(test_csv, {}), path, sample)
    before = path.read_bytes()
    with pytest.raises(PipelineError, match=r"s\.csv: submission has 1 NaN"):
        bad = S.build_submission(test_csv, {})
        bad.loc[0, "value"] = np.nan
        S.write_submission(bad, path, sample)
    assert path.read_bytes() == before


# --------------------------------------------------------------------------- read


def test_read_test_csv(tmp_path: Path) -> None:
    path = tmp_path / "test.csv"
    df = make_test_csv({"0123": 500})
    df.assign(lead=df["lead"].str.upper()).to_csv(path, index=False)
    got = S.read_test_csv(path)
    assert list(got.columns) == list(S.TEST_COLUMNS)
    assert list(got["lead"]) == list(LEADS)
    assert got["id"].iloc[0] == "0123"
    assert got["number_of_rows"].tolist() == [n_samples(500, lead) for lead in LEADS]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.assign(lead=d["lead"].replace("V6", "V7")), "unknown lead names V7"),
        (lambda d: d.drop(columns="fs"), "missing columns fs"),
        (lambda d: d.assign(number_of_rows=-1), "number_of_rows must be a positive integer"),
        (lambda d: d.assign(fs=250.5), "fs must be a positive integer"),
        (lambda d: pd.concat([d, d.iloc[:1]]), "image 1 lead I appears more than once"),
        (lambda d: d.iloc[:0], "no rows"),
    ],
)
def test_read_test_csv_errors(tmp_path: Path, change, message: str) -> None:
    path = tmp_path / "test.csv"
    change(make_test_csv({"1": 250})).to_csv(path, index=False)
    with pytest.raises(PipelineError) as err:
        S.read_test_csv(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)


def test_read_test_csv_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match=r"nothere\.csv: test\.csv not found"):
        S.read_test_csv(tmp_path / "nothere.csv")


def test_read_sample_submission(tmp_path: Path) -> None:
    sample = sample_for(make_test_csv({"7": 250}))
    sample.to_parquet(tmp_path / "s.parquet", index=False)
    sample.to_csv(tmp_path / "s.csv", index=False)
    for name in ("s.parquet", "s.csv"):
        got = S.read_sample_submission(tmp_path / name)
        assert got["id"].tolist() == sample["id"].tolist()
    (tmp_path / "bad.parquet").write_bytes(b"not a parquet file")
    with pytest.raises(PipelineError, match=r"bad\.parquet: unreadable sample submission"):
        S.read_sample_submission(tmp_path / "bad.parquet")
    sample.rename(columns={"value": "x"}).to_csv(tmp_path / "nov.csv", index=False)
    with pytest.raises(PipelineError, match=r"nov\.csv: missing columns value"):
        S.read_sample_submission(tmp_path / "nov.csv")


def test_round_trip_scores_perfect(tmp_path: Path) -> None:
    """Build, write and read back a submission of the true signals: the metric gives 60 dB."""
    test_csv = make_test_csv({"11": 250, "12": 500})
    truth = random_predictions(test_csv, seed=5)
    sample = sample_for(test_csv)
    path = tmp_path / "submission.csv"
    S.write_submission(S.build_submission(test_csv, truth), path, sample)
    written = pd.read_csv(path, dtype={"id": str})
    solution = S.build_submission(test_csv, truth).assign(value=lambda d: d["value"].round(5))
    report = metric.score_submission(solution, written, test_csv)
    assert report.snr_db == pytest.approx(60.0)
