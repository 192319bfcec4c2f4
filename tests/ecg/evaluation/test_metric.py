"""Tests of the competition metric (DESIGN 4.2) against hand-computed values and a slow reference."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.optimize
import scipy.signal

from pipeline.core.errors import PipelineError
from pipeline.ecg.evaluation import metric as M
from pipeline.ecg.layout import LEADS, lead_window

FS = 500


def ecg_like(n: int, rng: np.random.Generator) -> np.ndarray:
    """A non-periodic test signal: irregular spikes and bumps on a slow wander (mV)."""
    t = np.arange(n)
    x = np.cumsum(rng.normal(0, 0.01, n))
    pos = 0.0
    while pos < n:
        pos += rng.uniform(150, 500)
        width = rng.uniform(3, 15)
        x += rng.uniform(0.5, 1.5) * np.exp(-0.5 * ((t - pos) / width) ** 2)
        x -= rng.uniform(0.1, 0.3) * np.exp(-0.5 * ((t - pos - 60) / (3 * width)) ** 2)
    return x - np.median(x)  # most of an ECG sits on its baseline


def make_record(fs: int, rng: np.random.Generator) -> pd.DataFrame:
    """A truth frame as in train CSVs: LEADS columns, fs*10 rows, NaN outside each lead's window."""
    n = fs * 10
    df = pd.DataFrame(index=range(n), columns=list(LEADS), dtype=np.float64)
    for lead in LEADS:
        a, b = lead_window(fs, lead)
        df.loc[a : b - 1, lead] = ecg_like(b - a, rng)
    return df


def reference_align(label: np.ndarray, pred: np.ndarray, lag_limit: int) -> np.ndarray:
    """Slow, literal reading of DESIGN 4.2 (direct correlation, Brent offset), for comparison."""
    lc, pc = label - label.mean(), pred - pred.mean()
    corr = scipy.signal.correlate(lc, pc, mode="full", method="direct")
    lags = scipy.signal.correlation_lags(len(label), len(pred), mode="full")
    allowed = np.flatnonzero(np.abs(lags) <= lag_limit)
    best = corr[allowed].max()
    lag = lags[min((i for i in allowed if corr[i] == best), key=lambda i: (abs(lags[i]), lags[i]))]
    aligned = np.full(len(label), np.nan)
    for i in range(len(label)):
        if 0 <= i - lag < len(pred):
            aligned[i] = pred[i - lag]
    v = scipy.optimize.minimize_scalar(lambda v: np.nansum((label - (aligned - v)) ** 2), method="brent").x
    return aligned - v


def lag_of(aligned: np.ndarray) -> int:
    """The lag an aligned prediction was shifted by, read from its leading/trailing missing samples."""
    miss = np.isnan(aligned)
    lead = int(np.argmax(~miss)) if miss[0] else 0
    trail = int(np.argmax(~miss[::-1])) if miss[-1] else 0
    return lead - trail


# --------------------------------------------------------------------------- alignment


def test_alignment_matches_slow_reference() -> None:
    rng = np.random.default_rng(1)
    for case in range(150):
        n = int(rng.integers(4, 400))
        m = n if case % 3 else int(rng.integers(2, 400))
        label = np.cumsum(rng.normal(size=n))
        pred = np.resize(np.roll(label, int(rng.integers(-30, 30))), m) + rng.normal(0, 0.3, m) + rng.normal(0, 5)
        limit = int(rng.integers(0, 60))
        got = M._align_batch(label[None], pred[None], limit)[0]
        np.testing.assert_allclose(got, reference_align(label, pred, limit), atol=1e-6, err_msg=f"case {case}")


def test_official_alignment_examples() -> None:
    base = np.array([0, 1, 2, 1, 0.0])
    np.testing.assert_allclose(M.align(base, base, fs=1, max_shift_s=100), base)
    np.testing.assert_allclose(M.align(base, base + 10, fs=1, max_shift_s=100), base, atol=1e-12)
    label = np.array([0, 0, 1, 2, 1, 0, 0.0])
    pred = np.array([1, 2, 1, 0, 0, 0, 0.0])
    np.testing.assert_allclose(M.align(label, pred, fs=1, max_shift_s=100), [np.nan, np.nan, 1, 2, 1, 0, 0], atol=1e-12)


def test_max_lag_truncates_like_official() -> None:
    assert [M.max_lag(fs) for fs in (250, 256, 500, 512, 1000, 1025)] == [50, 51, 100, 102, 200, 205]


def test_ties_pick_smallest_abs_lag() -> None:
    label = np.array([0, 0, 1, 0, 0, 0, -1, 0, 0.0])
    pred = np.array([0, 0, 1, 1, 0, 0, -1, -1, 0.0])  # correlation ties at lags -1 and 0
    assert lag_of(M.align(label, pred, fs=10)) == 0


def test_ties_at_equal_abs_lag_prefer_negative() -> None:
    label = np.array([0, 0, 1, 0, 0, 0, -1, 0, 0.0])
    pred = np.array([0, 1, 0, 1, 0, -1, 0, -1, 0.0])  # correlation ties at lags -1 and +1, lag 0 lower
    aligned = M.align(label, pred, fs=10)
    assert lag_of(aligned) == -1
    assert np.isnan(aligned[-1]) and not np.isnan(aligned[0])


def test_random_ties_follow_the_rule() -> None:
    """Zero-sum integer signals give exact correlations, so real ties can be checked exhaustively."""
    rng = np.random.default_rng(2)
    checked = 0
    while checked < 40:
        label = rng.integers(-1, 2, 8).astype(float)
        pred = rng.integers(-1, 2, 8).astype(float)
        if label.sum() or pred.sum() or not label.any() or not pred.any():
            continue
        corr = scipy.signal.correlate(label, pred, mode="full", method="direct")
        lags = scipy.signal.correlation_lags(8, 8)
        ok = np.abs(lags) <= 3
        best_lags = lags[ok][corr[ok] == corr[ok].max()]
        if len(best_lags) < 2:
            continue
        want = min(best_lags, key=lambda k: (abs(k), k))
        assert lag_of(M.align(label, pred, fs=15)) == want
        checked += 1


# --------------------------------------------------------------------------- powers


def test_perfect_prediction_scores_60_db() -> None:
    rng = np.random.default_rng(3)
    truth = {"a": make_record(FS, rng), "b": make_record(FS, rng)}
    report = M.score_frames(truth, {k: v.copy() for k, v in truth.items()}, {"a": FS, "b": FS})
    assert report.snr_db == pytest.approx(60.0)
    assert (report.per_image["ratio"] == M.PERFECT_RATIO).all()


def test_flat_prediction_scores_about_zero_db() -> None:
    rng = np.random.default_rng(4)
    truth = make_record(FS, rng)
    flat = pd.DataFrame(0.0, index=truth.index, columns=list(LEADS))
    report = M.score_frames({"x": truth}, {"x": flat}, {"x": FS})
    # A flat line is aligned at lag 0 and lifted to each lead's mean, so noise = the label's variance.
    signal = sum(float((truth[lead].dropna() ** 2).sum()) for lead in LEADS)
    noise = sum(float(((truth[lead].dropna() - truth[lead].mean()) ** 2).sum()) for lead in LEADS)
    assert report.snr_db == pytest.approx(10 * np.log10(signal / noise))
    assert 0 < report.snr_db < 3


def test_all_nan_prediction_is_exactly_zero_db() -> None:
    rng = np.random.default_rng(5)
    truth = make_record(FS, rng)
    empty = pd.DataFrame(np.nan, index=truth.index, columns=list(LEADS))
    assert M.score_frames({"x": truth}, {"x": empty}, {"x": FS}).snr_db == pytest.approx(0.0, abs=1e-9)
    # a missing image is scored the same way
    assert M.score_frames({"x": truth}, {}, {"x": FS}).snr_db == pytest.approx(0.0, abs=1e-9)


def test_constant_offset_is_free() -> None:
    rng = np.random.default_rng(6)
    label = ecg_like(1250, rng)
    noisy = label + rng.normal(0, 0.05, label.size)
    s0, n0 = M.lead_powers(label, noisy, FS)
    s1, n1 = M.lead_powers(label, noisy + 3.7, FS)
    assert s0 == s1
    assert n1 == pytest.approx(n0, rel=1e-9)
    assert M.capped_ratio(*M.lead_powers(label, label - 1.2, FS)) == M.PERFECT_RATIO


def _shifted_pair(shift: int, n: int = 5000, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """label = u[K:K+n]; pred = u[K+shift:K+shift+n], i.e. pred[j] = label[j + shift]."""
    u = ecg_like(n + 800, np.random.default_rng(seed))
    return u[400 : 400 + n], u[400 + shift : 400 + shift + n]


@pytest.mark.parametrize("shift", [50, -50, 100, -100])
def test_shift_up_to_0_2_s_is_recovered(shift: int) -> None:
    label, pred = _shifted_pair(shift)
    aligned = M.align(label, pred, FS)
    assert lag_of(aligned) == shift
    # Only the samples shifted in are lost: they count as zeros.
    lost = label[:shift] if shift > 0 else label[shift:]
    signal, noise = M.lead_powers(label, pred, FS)
    assert noise == pytest.approx(float((lost**2).sum()), rel=1e-9)
    unaligned = float(((label - pred) ** 2).sum())
    assert noise < unaligned / 5
    assert signal == pytest.approx(float((label**2).sum()))


def test_shift_just_beyond_0_2_s_stops_at_the_limit() -> None:
    label, pred = _shifted_pair(101)
    assert lag_of(M.align(label, pred, FS)) == M.max_lag(FS) == 100
    _, noise = M.lead_powers(label, pred, FS)
    assert noise > float((label[:101] ** 2).sum())  # worse than the exact shift would have been


@pytest.mark.parametrize("shift", [150, -150, 300])
def test_shift_beyond_0_2_s_is_not_recovered(shift: int) -> None:
    label, pred = _shifted_pair(shift)
    assert abs(lag_of(M.align(label, pred, FS))) <= M.max_lag(FS)
    lost = label[:shift] if shift > 0 else label[shift:]
    _, noise = M.lead_powers(label, pred, FS)
    assert noise > 5 * float((lost**2).sum())  # far worse than a recovered shift would be


def test_nan_and_inf_predictions_count_as_zero() -> None:
    rng = np.random.default_rng(8)
    label = ecg_like(1250, rng)
    pred = label.copy()
    pred[100:200] = np.nan
    pred[300] = np.inf
    aligned = M.align(label, pred, FS)
    assert np.isnan(aligned[100:200]).all() and np.isnan(aligned[300])
    _, noise = M.lead_powers(label, pred, FS)
    expected = float((label[100:200] ** 2).sum() + label[300] ** 2)
    assert noise == pytest.approx(expected, rel=1e-9)


def test_prediction_of_other_length_and_empty() -> None:
    label = np.sin(np.linspace(0, 3, 100)) + 0.5
    assert M.align(label, label[:60], fs=100).shape == (100,)
    signal, noise = M.lead_powers(label, np.empty(0), fs=100)
    assert signal == noise == pytest.approx(float((label**2).sum()))


def test_bad_label_is_rejected() -> None:
    with pytest.raises(ValueError, match="finite"):
        M.align(np.array([0.0, np.nan, 1.0]), np.zeros(3), FS)
    with pytest.raises(ValueError, match="1-dimensional"):
        M.lead_powers(np.zeros((2, 2)), np.zeros(4), FS)


# --------------------------------------------------------------------------- ratios and scores


def test_capped_ratio_edges() -> None:
    assert M.capped_ratio(5.0, 0.0) == 1e6
    assert M.capped_ratio(0.0, 0.0) == 1e6
    assert M.capped_ratio(0.0, 2.0) == 0.0
    assert M.capped_ratio(1e9, 1.0) == 1e6
    assert M.capped_ratio(3.0, 2.0) == 1.5


def test_score_averages_linear_ratios() -> None:
    assert M.score_ratios([1.0, 100.0]) == pytest.approx(10 * np.log10(50.5))
    assert M.score_ratios([1e6]) == pytest.approx(60.0)
    assert M.score_ratios([0.0, 0.0]) == M.SCORE_FLOOR_DB
    with pytest.raises(ValueError):
        M.score_ratios([])


def test_image_ratio_sums_powers_over_leads() -> None:
    label = {"I": np.array([1.0, -1.0, 1.0, -1.0]), "II": np.array([2.0, -2.0, 2.0, -2.0])}
    pred = {"I": label["I"]}  # II absent: all missing, noise = its signal
    assert M.image_ratio(label, pred, fs=1) == pytest.approx((4 + 16) / 16)


def test_official_submission_examples() -> None:
    """The worked example of the official metric's docstring (fs = 1 Hz, so no lag search)."""
    values = {
        "I": [0.1, 0.3, 0.4], "III": [0.6, 0.6, 0.4], "aVR": [0.2, 0.3, 0.4], "aVL": [0.5, 0.2, 0.7],
        "aVF": [0.2, 0.3, 0.4], "V1": [0.8, 0.6, 0.7], "V2": [0.2, 0.3, -0.1], "V3": [0.5, 0.6, 0.7],
        "V4": [0.2, 0.9, 0.4], "V5": [0.5, 0.6, 0.7], "V6": [0.1, 0.3, 0.4],
        "II": [0.6, 0.6, 0.4, 0.2, 0.3, 0.4, 0.5, 0.2, 0.7, 0.2, 0.3, 0.4],
    }  # fmt: skip
    ids = [f"343_{r}_{lead}" for lead, v in values.items() for r in range(len(v))]
    solution = pd.DataFrame({"id": ids, "value": [x for v in values.values() for x in v]})
    test_csv = pd.DataFrame(
        [("343", lead, 1, len(v)) for lead, v in values.items()], columns=["id", "lead", "fs", "number_of_rows"]
    )
    assert M.score_submission(solution, solution.copy(), test_csv).snr_db == pytest.approx(60.0)
    sub = solution.copy()
    sub.loc[0, "value"] = 0.9
    assert M.score_submission(solution, sub, test_csv).snr_db == pytest.approx(13.6291, abs=1e-4)
    sub.loc[4, "value"] = 0.3
    assert M.score_submission(solution, sub, test_csv).snr_db == pytest.approx(13.0576, abs=1e-4)


def test_challenge2024_known_case() -> None:
    label = {"I": np.array([1.0, 1.0, 1.0, 1.0]), "II": np.array([2.0, 0.0]), "III": np.zeros(3)}
    pred = {"I": np.array([1.0, 1.0, 1.0, 0.0]), "II": np.array([np.nan, 0.0]), "III": np.ones(3)}
    # I: 10*log10(4/1); II: NaN as 0 -> 10*log10(4/4) = 0; III: no signal -> NaN, left out of the mean.
    assert M.challenge2024_snr(label, pred) == pytest.approx(10 * np.log10(4) / 2)
    # no alignment: a one-sample shift is punished, a perfect lead is inf
    assert M.challenge2024_snr({"I": np.array([1.0, 2.0])}, {"I": np.array([1.0, 2.0])}) == np.inf
    assert M.challenge2024_snr({"I": np.array([0.0, 1.0, 0.0])}, {"I": np.array([1.0, 0.0, 0.0])}) == pytest.approx(
        10 * np.log10(1 / 2)
    )


# --------------------------------------------------------------------------- reports


def test_score_frames_report_breakdowns() -> None:
    rng = np.random.default_rng(9)
    truth = {"10-0001": make_record(FS, rng), "10-0003": make_record(FS, rng), "11-0003": make_record(250, rng)}
    pred = {}
    for k, t in truth.items():
        p = t.copy()
        p[list(LEADS)] = t.to_numpy() + rng.normal(0, 0.02 if k == "10-0001" else 0.2, t.shape)
        pred[k] = p
    report = M.score_frames(truth, pred, {"10-0001": FS, "10-0003": FS, "11-0003": 250})
    assert list(report.per_image.columns) == ["id", "ratio", "snr_db", "challenge2024_db"]
    assert list(report.per_image["id"]) == list(truth)
    assert report.snr_db == pytest.approx(M.score_ratios(report.per_image["ratio"]))
    np.testing.assert_allclose(report.per_image["snr_db"], 10 * np.log10(report.per_image["ratio"]))
    assert list(report.per_lead["lead"]) == list(LEADS)
    assert list(report.per_type["image_type"]) == ["0001", "0003"]
    assert list(report.per_type["n_images"]) == [1, 2]
    best = report.per_image.set_index("id")["snr_db"]
    assert best["10-0001"] > best["10-0003"] + 10
    # per-lead: 10*log10 of the mean over images of that lead's own ratio
    lead_ii = [M.capped_ratio(*M.lead_powers(truth[k]["II"].to_numpy(), pred[k]["II"].to_numpy(), f)) for k, f in
               (("10-0001", FS), ("10-0003", FS), ("11-0003", 250))]  # fmt: skip
    got = report.per_lead.set_index("lead").loc["II", "snr_db"]
    assert got == pytest.approx(10 * np.log10(np.mean(lead_ii)))
    assert np.isfinite(report.challenge2024_db)
    text = json.dumps(report.to_dict(), allow_nan=False)
    assert json.loads(text)["n_images"] == 3


def test_to_dict_maps_infinite_to_none() -> None:
    rng = np.random.default_rng(10)
    truth = make_record(250, rng)
    report = M.score_frames({"p": truth}, {"p": truth.copy()}, {"p": 250})
    assert report.challenge2024_db == np.inf
    d = report.to_dict()
    assert d["challenge2024_db"] is None and d["snr_db"] == pytest.approx(60.0)
    json.dumps(d, allow_nan=False)


def test_score_frames_uses_truth_window_only() -> None:
    rng = np.random.default_rng(11)
    truth = make_record(250, rng)
    pred = truth.copy()
    pred = pred.fillna(123.0)  # garbage outside the windows is ignored
    assert M.score_frames({"x": truth}, {"x": pred}, {"x": 250}).snr_db == pytest.approx(60.0)


def test_score_frames_rejects_bad_rows() -> None:
    rng = np.random.default_rng(12)
    truth = make_record(250, rng)
    with pytest.raises(PipelineError, match="rows"):
        M.score_frames({"x": truth}, {"x": truth.iloc[:-5]}, {"x": 250})
    with pytest.raises(PipelineError, match="V6"):
        M.score_frames({"x": truth}, {"x": truth.drop(columns="V6")}, {"x": 250})


def test_score_submission_agrees_with_score_frames() -> None:
    rng = np.random.default_rng(13)
    fs_by_id = {"7": 250, "8": 500}
    truth = {k: make_record(fs, rng) for k, fs in fs_by_id.items()}
    pred = {k: t + rng.normal(0, 0.1, t.shape) for k, t in truth.items()}
    ids, true_v, pred_v, test_rows = [], [], [], []
    for k, t in truth.items():
        for lead in LEADS:
            a, b = lead_window(fs_by_id[k], lead)
            test_rows.append((k, lead, fs_by_id[k], b - a))
            ids += [f"{k}_{r}_{lead}" for r in range(b - a)]
            true_v.append(t[lead].to_numpy()[a:b])
            pred_v.append(pred[k][lead].to_numpy()[a:b])
    solution = pd.DataFrame({"id": ids, "value": np.concatenate(true_v)})
    submission = pd.DataFrame({"id": ids, "value": np.concatenate(pred_v)}).sample(frac=1.0, random_state=0)
    test_csv = pd.DataFrame(test_rows, columns=["id", "lead", "fs", "number_of_rows"])
    a = M.score_submission(solution, submission, test_csv)
    b = M.score_frames(truth, pred, fs_by_id)
    assert a.snr_db == pytest.approx(b.snr_db, rel=1e-9)
    np.testing.assert_allclose(a.per_image["ratio"], b.per_image["ratio"], rtol=1e-9)

    with pytest.raises(PipelineError, match="NaN"):
        M.score_submission(solution, submission.assign(value=np.nan), test_csv)
    with pytest.raises(PipelineError, match="submission lacks 1 ids"):
        M.score_submission(solution, submission.iloc[1:], test_csv)
    with pytest.raises(PipelineError, match="submission repeats ids"):
        M.score_submission(solution, pd.concat([submission, submission.iloc[:1]]), test_csv)
    extra = pd.concat([submission, pd.DataFrame({"id": ["9_0_I"], "value": [0.0]})])
    with pytest.raises(PipelineError, match="1 ids not made from test.csv, e.g. 9_0_I"):
        M.score_submission(solution, extra, test_csv)
    with pytest.raises(PipelineError, match="no 'value' column"):
        M.score_submission(solution, submission.rename(columns={"value": "v"}), test_csv)


# --------------------------------------------------------------------------- files


def _write(df: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)
    return path


def test_score_dirs(tmp_path: Path) -> None:
    rng = np.random.default_rng(16)
    truth_dir, pred_dir = tmp_path / "train", tmp_path / "pred"
    for rid, fs in (("1", 250), ("2", 500)):
        rec = make_record(fs, rng)
        _write(rec, truth_dir / rid / f"{rid}.csv")
        _write(rec + rng.normal(0, 0.05, rec.shape), pred_dir / f"{rid}-0001.csv")
        _write(rec + rng.normal(0, 0.3, rec.shape), pred_dir / f"{rid}-0006.csv")
    _write(make_record(250, rng), pred_dir / "orphan.csv")
    report = M.score_dirs(truth_dir, pred_dir)
    assert sorted(report.per_image["id"]) == ["1-0001", "1-0006", "2-0001", "2-0006"]
    types = report.per_type.set_index("image_type")["snr_db"]
    assert types["0001"] > types["0006"] + 10

    with pytest.raises(PipelineError, match=r"missing_dir.*not found"):
        M.score_dirs(tmp_path / "missing_dir", pred_dir)
    other = tmp_path / "other"
    _write(make_record(250, rng), other / "zzz.csv")
    with pytest.raises(PipelineError, match="same stem"):
        M.score_dirs(truth_dir, other)


def test_score_dirs_wrong_rows_and_leads(tmp_path: Path) -> None:
    rng = np.random.default_rng(17)
    rec = make_record(250, rng)
    _write(rec, tmp_path / "t" / "5.csv")
    _write(rec.iloc[:-10], tmp_path / "p" / "5.csv")
    with pytest.raises(PipelineError) as err:
        M.score_dirs(tmp_path / "t", tmp_path / "p")
    assert "5.csv" in str(err.value) and "2490 rows, expected 2500" in str(err.value)
    _write(rec.drop(columns="aVL"), tmp_path / "p" / "5.csv")
    with pytest.raises(PipelineError, match=r"5\.csv.*missing lead columns aVL"):
        M.score_dirs(tmp_path / "t", tmp_path / "p")
