"""The competition metric: aligned, offset-free signal-to-noise ratio in dB.

Per image and lead (matching the official Kaggle metric "physionet-ecg-signal-extraction-metric"):

1. centre label and prediction by their means (the prediction's mean over its finite samples);
2. cross-correlate them; among lags with |lag| <= int(fs * 0.2) samples take the one of maximum
   correlation. Ties (values within 1e-10 of the Cauchy-Schwarz bound, so FFT rounding cannot split
   a true tie) go to the smallest |lag|, then to the negative lag, as the official code's `min` over
   ascending lags does;
3. shift the prediction by that lag: ``aligned[i] = pred[i - lag]``; samples shifted in are missing;
4. subtract the constant offset that minimises the squared error over the overlap, i.e.
   ``mean(aligned - label)`` over non-missing samples (the official code finds it with Brent's method;
   the closed form is the same minimum);
5. missing samples (shifted in, or NaN/inf in the prediction) count as 0 after the offset removal.

Signal power is ``sum(label**2)`` of the raw (uncentred) label, noise power ``sum((label - aligned)**2)``.
Per image both powers are summed over the leads; ratio = signal/noise capped at 1e6 (noise 0 gives
1e6, signal 0 gives 0). Score = 10*log10(mean of per-image ratios), floored at -1e6 as officially.
The mean is of linear ratios, so a few near-perfect images dominate.

Where the official code raises on NaN predictions, here they count as missing (see 1, 4, 5), so a
digitizer's partial output can be scored; `score_submission` still rejects NaN/inf as Kaggle does.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.fft

from pipeline.core.errors import PipelineError
from pipeline.ecg.formats.records import read_record_csv
from pipeline.ecg.layout import LEADS

log = logging.getLogger(__name__)

MAX_SHIFT_S = 0.2
PERFECT_RATIO = 1e6
SCORE_FLOOR_DB = -1e6
_TIE_RTOL = 1e-10
_BATCH_VALUES = 1 << 22  # label+pred values per FFT batch: keeps memory to tens of MB
_IMAGE_TYPE = re.compile(r"-(\d{4})$")


# --------------------------------------------------------------------------- single lead, batched


def max_lag(fs: float, max_shift_s: float = MAX_SHIFT_S) -> int:
    """Largest allowed |lag| in samples: int(fs * max_shift_s), as the official code truncates.

    The tiny epsilon keeps a product such as 0.2 * 500 = 99.99999... from losing a sample.
    """
    return int(np.floor(fs * max_shift_s + 1e-9))


def _lag_order(lo: int, hi: int) -> np.ndarray:
    """Candidate lags in [lo, hi] ordered by (|lag|, lag): 0, -1, 1, -2, 2, ... (the tie order)."""
    lags = np.arange(lo, hi + 1)
    return lags[np.lexsort((lags, np.abs(lags)))]


def _align_batch(labels: np.ndarray, preds: np.ndarray, lag_limit: int) -> np.ndarray:
    """Aligned, offset-removed predictions (NaN where missing) for a (B, n) / (B, m) stack of leads.

    Labels must be finite; predictions may hold NaN/inf (missing). Result has shape (B, n).
    """
    b, n = labels.shape
    m = preds.shape[1]
    out = np.full((b, n), np.nan)
    if b == 0 or n == 0 or m == 0:
        return out
    finite = np.isfinite(preds)
    counts = finite.sum(axis=1)
    pred_mean = np.where(finite, preds, 0.0).sum(axis=1) / np.maximum(counts, 1)
    label_c = labels - labels.mean(axis=1, keepdims=True)
    pred_c = np.where(finite, preds - pred_mean[:, None], 0.0)

    lags = _lag_order(max(-lag_limit, -(m - 1)), min(lag_limit, n - 1))
    nfft = scipy.fft.next_fast_len(n + m - 1, real=True)
    # corr[k] = sum_i label_c[i] * pred_c[i - k], the same lag convention as scipy.signal.correlate.
    corr = scipy.fft.irfft(
        scipy.fft.rfft(label_c, nfft, axis=1) * np.conj(scipy.fft.rfft(pred_c, nfft, axis=1)), nfft, axis=1
    )[:, lags % nfft]
    bound = np.linalg.norm(label_c, axis=1) * np.linalg.norm(pred_c, axis=1)
    best = corr.max(axis=1, keepdims=True)
    pick = np.argmax(corr >= best - _TIE_RTOL * bound[:, None], axis=1)
    shift = lags[pick]

    src = np.arange(n)[None, :] - shift[:, None]
    inside = (src >= 0) & (src < m)
    aligned = np.take_along_axis(preds, np.clip(src, 0, m - 1), axis=1)
    ok = inside & np.isfinite(aligned)
    n_ok = ok.sum(axis=1)
    offset = np.where(ok, aligned - labels, 0.0).sum(axis=1) / np.maximum(n_ok, 1)
    np.copyto(out, aligned - offset[:, None], where=ok)
    return out


def _powers_batch(labels: np.ndarray, preds: np.ndarray, lag_limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-row (signal, noise) powers after alignment, batched so memory stays bounded."""
    b, n = labels.shape
    m = preds.shape[1]
    signal = np.square(labels).sum(axis=1)
    noise = np.empty(b)
    step = max(1, _BATCH_VALUES // max(1, 2 * (n + m)))
    for s in range(0, b, step):
        aligned = _align_batch(labels[s : s + step], preds[s : s + step], lag_limit)
        noise[s : s + step] = np.square(labels[s : s + step] - np.nan_to_num(aligned, nan=0.0)).sum(axis=1)
    return signal, noise


def _as_label(label: Any) -> np.ndarray:
    arr = np.asarray(label, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"label must be 1-dimensional, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("label must be finite everywhere")
    return arr


def _as_pred(pred: Any) -> np.ndarray:
    arr = np.asarray(pred, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"prediction must be 1-dimensional, got shape {arr.shape}")
    return arr


def align(label: np.ndarray, pred: np.ndarray, fs: float, max_shift_s: float = MAX_SHIFT_S) -> np.ndarray:
    """The prediction shifted onto the label and with its offset removed; NaN where missing.

    Same length as `label`. `pred` may have another length and may hold NaN/inf (missing).
    Raises ValueError for a non-finite or non-1-D label.
    """
    lab, prd = _as_label(label), _as_pred(pred)
    return _align_batch(lab[None, :], prd[None, :], max_lag(fs, max_shift_s))[0]


def lead_powers(label: np.ndarray, pred: np.ndarray, fs: float) -> tuple[float, float]:
    """(signal, noise) power of one lead: sum(label**2) and sum((label - aligned)**2), missing as 0."""
    lab, prd = _as_label(label), _as_pred(pred)
    s, n = _powers_batch(lab[None, :], prd[None, :], max_lag(fs))
    return float(s[0]), float(n[0])


def capped_ratio(signal: float, noise: float) -> float:
    """signal/noise capped at 1e6; noise 0 gives 1e6, signal 0 (with noise) gives 0."""
    if noise == 0:
        return PERFECT_RATIO
    if signal == 0:
        return 0.0
    return float(min(signal / noise, PERFECT_RATIO))


_capped_ratios = np.vectorize(capped_ratio, otypes=[float])


def image_ratio(
    label_by_lead: Mapping[str, np.ndarray], pred_by_lead: Mapping[str, np.ndarray], fs: float
) -> float:
    """One image's capped ratio of powers summed over the leads of `label_by_lead`.

    A lead absent from `pred_by_lead` is all missing (scored as zeros); extra predicted leads are ignored.
    """
    signal = noise = 0.0
    for lead, label in label_by_lead.items():
        pred = pred_by_lead.get(lead)
        s, n = lead_powers(label, np.empty(0) if pred is None else pred, fs)
        signal += s
        noise += n
    return capped_ratio(signal, noise)


def score_ratios(ratios: Iterable[float]) -> float:
    """The score in dB: 10*log10 of the mean of the per-image linear ratios, floored at -1e6."""
    arr = np.asarray(list(ratios), dtype=np.float64)
    if arr.size == 0:
        raise ValueError("no images to score")
    mean = float(arr.mean())
    if mean <= 0:
        return SCORE_FLOOR_DB
    return max(float(10 * np.log10(mean)), SCORE_FLOOR_DB)


def _challenge_lead_db(label: np.ndarray, pred: np.ndarray) -> float:
    """PhysioNet 2024 per-lead SNR: no alignment; label's non-finite samples dropped, NaN pred as 0.

    The prediction is cut or zero-padded to the label's length. signal 0 gives NaN, noise 0 gives inf.
    """
    label = np.asarray(label, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    fitted = np.zeros(label.shape[0])
    k = min(label.shape[0], pred.shape[0])
    fitted[:k] = pred[:k]
    keep = np.isfinite(label)
    label, fitted = label[keep], np.nan_to_num(fitted[keep], nan=0.0, posinf=0.0, neginf=0.0)
    x = float(np.square(label).sum())
    y = float(np.square(fitted - label).sum())
    if x > 0 and y > 0:
        return float(10 * np.log10(x / y))
    if x > 0:
        return float("inf")
    return float("nan")


def _nanmean(values: Sequence[float]) -> float:
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    return float(arr.mean()) if arr.size else float("nan")


def challenge2024_snr(label_by_lead: Mapping[str, np.ndarray], pred_by_lead: Mapping[str, np.ndarray]) -> float:
    """PhysioNet Challenge 2024 variant for one image: mean over leads of the unaligned per-lead dB.

    Per lead 10*log10(sum(label**2) / sum((label - pred)**2)); NaN predictions and absent leads count
    as 0; a lead with noise 0 gives inf, one with signal 0 gives NaN and is left out of the mean.
    """
    return _nanmean(
        [_challenge_lead_db(label, pred_by_lead.get(lead, np.empty(0))) for lead, label in label_by_lead.items()]
    )


# --------------------------------------------------------------------------- reports


@dataclass(frozen=True, eq=False)  # eq on DataFrames is ambiguous; compare fields explicitly
class ScoreReport:
    """Scores of a set of images.

    snr_db: the competition score. challenge2024_db: the 2024 variant, mean over all (image, lead)
    values as the 2024 evaluation does. per_image: id, ratio, snr_db (10*log10 ratio),
    challenge2024_db (mean over its leads). per_lead: lead, snr_db = 10*log10(mean over images of that lead's own capped
    signal/noise ratio), challenge2024_db (mean over images). per_type: image_type (the "-NNNN" suffix
    of an id, "" when none), n_images, snr_db, challenge2024_db.
    """

    snr_db: float
    challenge2024_db: float
    per_image: pd.DataFrame
    per_lead: pd.DataFrame
    per_type: pd.DataFrame

    @property
    def n_images(self) -> int:
        return len(self.per_image)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; non-finite floats (inf, NaN) become None."""
        return {
            "snr_db": _json_float(self.snr_db),
            "challenge2024_db": _json_float(self.challenge2024_db),
            "n_images": self.n_images,
            "per_image": _records(self.per_image),
            "per_lead": _records(self.per_lead),
            "per_type": _records(self.per_type),
        }


def _json_float(x: Any) -> Any:
    if isinstance(x, (float, np.floating)):
        return float(x) if np.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _json_float(v) for k, v in row.items()} for row in df.to_dict(orient="records")]


def image_type(image_id: str) -> str:
    """The image type of an id such as "1234-0003" ("0003"), or "" when the id carries none."""
    found = _IMAGE_TYPE.search(str(image_id))
    return found.group(1) if found else ""


@dataclass(frozen=True)
class _Segment:
    image: str
    lead: str
    label: np.ndarray
    pred: np.ndarray
    lag_limit: int


def _score_segments(images: Sequence[str], segments: Sequence[_Segment]) -> ScoreReport:
    """Score leads grouped by image; leads of equal shape and lag limit share one FFT batch."""
    signal = np.zeros(len(segments))
    noise = np.zeros(len(segments))
    groups: dict[tuple[int, int, int], list[int]] = {}
    for i, seg in enumerate(segments):
        groups.setdefault((seg.label.size, seg.pred.size, seg.lag_limit), []).append(i)
    for (n, m, lag_limit), idx in groups.items():
        labels = np.stack([segments[i].label for i in idx]) if n else np.zeros((len(idx), 0))
        preds = np.stack([segments[i].pred for i in idx]) if m else np.zeros((len(idx), 0))
        s, e = _powers_batch(labels, preds, lag_limit)
        signal[idx], noise[idx] = s, e

    leads = pd.DataFrame(
        {
            "image": [s.image for s in segments],
            "lead": [s.lead for s in segments],
            "signal": signal,
            "noise": noise,
            "ratio": _capped_ratios(signal, noise) if segments else np.zeros(0),
            "challenge2024_db": [_challenge_lead_db(s.label, s.pred) for s in segments],
        }
    )
    by_image = leads.groupby("image", sort=False)
    sums = by_image[["signal", "noise"]].sum()
    ratios = {img: capped_ratio(r.signal, r.noise) for img, r in sums.iterrows()}
    challenge = {img: _nanmean(g.tolist()) for img, g in by_image["challenge2024_db"]}
    per_image = pd.DataFrame(
        {
            "id": list(images),
            # An image without any scored lead has no signal: ratio 0, like a blank one.
            "ratio": [ratios.get(i, 0.0) for i in images],
            "challenge2024_db": [challenge.get(i, np.nan) for i in images],
        }
    )
    with np.errstate(divide="ignore"):
        per_image.insert(2, "snr_db", 10 * np.log10(per_image["ratio"].to_numpy()))

    lead_rows = []
    for lead in [*LEADS, *sorted(set(leads["lead"]) - set(LEADS))]:
        sel = leads[leads["lead"] == lead]
        if len(sel):
            lead_rows.append(
                {
                    "lead": lead,
                    "snr_db": score_ratios(sel["ratio"]),
                    "challenge2024_db": _nanmean(sel["challenge2024_db"].tolist()),
                }
            )
    per_lead = pd.DataFrame(lead_rows, columns=["lead", "snr_db", "challenge2024_db"])

    type_rows = [
        {
            "image_type": t,
            "n_images": len(g),
            "snr_db": score_ratios(g["ratio"]),
            "challenge2024_db": _nanmean(g["challenge2024_db"].tolist()),
        }
        for t, g in per_image.groupby(per_image["id"].map(image_type).rename("image_type"), sort=True)
    ]
    per_type = pd.DataFrame(type_rows, columns=["image_type", "n_images", "snr_db", "challenge2024_db"])
    return ScoreReport(
        snr_db=score_ratios(per_image["ratio"]),
        challenge2024_db=_nanmean(leads["challenge2024_db"].tolist()),
        per_image=per_image,
        per_lead=per_lead,
        per_type=per_type,
    )


# --------------------------------------------------------------------------- whole records


def score_frames(
    truth: Mapping[str, pd.DataFrame], pred: Mapping[str, pd.DataFrame], fs_by_id: Mapping[str, int]
) -> ScoreReport:
    """Score 12-lead records laid out as train CSVs (columns LEADS, NaN outside each lead's window).

    Per lead only the truth's non-NaN rows are scored, against the same rows of the prediction.
    An id missing from `pred` is scored as an all-missing prediction; a prediction with another row
    count than its truth, or a truth lacking lead columns, raises PipelineError naming the id.
    """
    if not truth:
        raise PipelineError("no images to score")
    images = [str(k) for k in truth]
    segments: list[_Segment] = []
    for key, t_df in truth.items():
        image = str(key)
        if key not in fs_by_id:
            raise PipelineError(f"image {image}: no sampling frequency given")
        lag_limit = max_lag(float(fs_by_id[key]))
        missing = [lead for lead in LEADS if lead not in t_df.columns]
        if missing:
            raise PipelineError(f"truth of image {image} lacks lead columns {', '.join(missing)}")
        p_df = pred.get(key)
        if p_df is not None:
            if len(p_df) != len(t_df):
                raise PipelineError(f"prediction of image {image} has {len(p_df)} rows, expected {len(t_df)}")
            lacking = [lead for lead in LEADS if lead not in p_df.columns]
            if lacking:
                raise PipelineError(f"prediction of image {image} lacks lead columns {', '.join(lacking)}")
        for lead in LEADS:
            label = t_df[lead].to_numpy(dtype=np.float64)
            if np.isinf(label).any():
                raise PipelineError(f"truth of image {image} has inf values in lead {lead}")
            rows = ~np.isnan(label)
            values = (
                np.full(int(rows.sum()), np.nan) if p_df is None else p_df[lead].to_numpy(dtype=np.float64)[rows]
            )
            segments.append(_Segment(image, lead, label[rows], values, lag_limit))
    return _score_segments(images, segments)


def _values(df: pd.DataFrame, name: str) -> np.ndarray:
    """The value column as float64; NaN, inf or non-numeric values raise PipelineError (as on Kaggle)."""
    for col in ("id", "value"):
        if col not in df.columns:
            raise PipelineError(f"{name} has no '{col}' column")
    col = df["value"]
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        values = col.to_numpy(dtype=np.float64)
    else:
        values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        first = df["id"].iloc[int(np.argmax(bad))]
        raise PipelineError(f"{name} has {int(bad.sum())} NaN, inf or non-numeric values (first at id {first})")
    return values


def _values_in_order(df: pd.DataFrame, expected: np.ndarray, name: str) -> np.ndarray:
    """`df`'s values reordered to the `expected` ids; every id exactly once, or PipelineError."""
    values = _values(df, name)
    ids = df["id"].astype(str).to_numpy(dtype=object)
    if len(ids) == len(expected) and bool((ids == expected).all()):
        return values  # the usual case: already in test.csv order, no hashing needed
    index = pd.Index(ids)
    if index.has_duplicates:
        raise PipelineError(f"{name} repeats ids, e.g. {index[index.duplicated()][0]}")
    pos = index.get_indexer(expected)
    if (pos < 0).any():
        raise PipelineError(f"{name} lacks {int((pos < 0).sum())} ids of test.csv, e.g. {expected[np.argmax(pos < 0)]}")
    if len(ids) != len(expected):
        extra = index[~index.isin(expected)]
        raise PipelineError(f"{name} has {len(extra)} ids not made from test.csv, e.g. {extra[0]}")
    return values[pos]


def score_submission(solution: pd.DataFrame, submission: pd.DataFrame, test_csv: pd.DataFrame) -> ScoreReport:
    """Score a Kaggle-format submission (id "{id}_{row}_{lead}", value) against its solution.

    `test_csv` (id, lead, fs, number_of_rows) says which ids to expect and each image's fs. Row order
    of solution and submission is free. As on Kaggle, NaN/inf values and lacking, repeated or extra
    ids are rejected (PipelineError).
    """
    if test_csv.empty:
        raise PipelineError("test.csv has no rows: nothing to score")
    meta = test_csv.assign(id=test_csv["id"].astype(str), lead=test_csv["lead"].astype(str))
    fs_per_image = meta.groupby("id", sort=False)["fs"].unique()
    for img, fs_values in fs_per_image.items():
        if len(fs_values) != 1:
            raise PipelineError(f"test.csv gives image {img} several sampling frequencies {list(fs_values)}")
    counts = meta["number_of_rows"].astype(np.int64).to_numpy()
    expected = np.array(
        [f"{i}_{r}_{lead}" for i, lead, n in zip(meta["id"], meta["lead"], counts) for r in range(n)], dtype=object
    )
    labels = _values_in_order(solution, expected, "solution")
    preds = _values_in_order(submission, expected, "submission")
    stops = np.cumsum(counts)
    segments = [
        _Segment(img, lead, labels[stop - n : stop], preds[stop - n : stop], max_lag(float(fs_per_image[img][0])))
        for img, lead, n, stop in zip(meta["id"], meta["lead"], counts, stops)
    ]
    return _score_segments(list(fs_per_image.index), segments)


# --------------------------------------------------------------------------- files


def _csv_by_stem(root: Path, role: str) -> dict[str, Path]:
    if not root.is_dir():
        raise PipelineError(f"{role} directory not found", root)
    found: dict[str, Path] = {}
    for p in sorted(root.rglob("*.csv")):
        if p.stem in found:
            raise PipelineError(f"two {role} CSVs share the stem {p.stem!r}: {found[p.stem]} and {p}", root)
        found[p.stem] = p
    return found


def score_dirs(truth_dir: str | Path, pred_dir: str | Path) -> ScoreReport:
    """Score every prediction CSV against the truth CSV of the same stem (both searched recursively).

    A prediction named after an image, "<id>-NNNN.csv", also matches the truth "<id>.csv" (train layout),
    so per-type scores come out. fs = rows/10 of the truth. Unmatched files are logged and skipped;
    no match at all, lead problems or a row count differing from the truth raise PipelineError.
    """
    truth_dir, pred_dir = Path(truth_dir), Path(pred_dir)
    truths = _csv_by_stem(truth_dir, "truth")
    preds = _csv_by_stem(pred_dir, "prediction")
    pairs: dict[str, tuple[Path, Path]] = {}
    for stem, p in preds.items():
        base = stem if stem in truths else _IMAGE_TYPE.sub("", stem)
        if base in truths:
            pairs[stem] = (truths[base], p)
    if not pairs:
        raise PipelineError(f"no prediction CSV in {pred_dir} has a truth CSV of the same stem", truth_dir)
    if len(pairs) < len(preds):
        log.warning("%d prediction CSVs have no truth and are skipped", len(preds) - len(pairs))

    truth_frames: dict[str, pd.DataFrame] = {}
    pred_frames: dict[str, pd.DataFrame] = {}
    fs_by_id: dict[str, int] = {}
    cache: dict[Path, pd.DataFrame] = {}
    for stem, (t_path, p_path) in pairs.items():
        if t_path not in cache:
            cache[t_path] = read_record_csv(t_path)
        t_df, p_df = cache[t_path], read_record_csv(p_path)
        if len(t_df) % 10:
            raise PipelineError(f"{len(t_df)} rows is not 10 s of samples (rows must be fs*10)", t_path)
        if len(p_df) != len(t_df):
            raise PipelineError(f"{len(p_df)} rows, expected {len(t_df)} as in {t_path}", p_path)
        truth_frames[stem], pred_frames[stem], fs_by_id[stem] = t_df, p_df, len(t_df) // 10
    return score_frames(truth_frames, pred_frames, fs_by_id)
