"""Score the digitizer on images whose true signals are known (synthetic test split, heldout pairs)."""

from __future__ import annotations

import pandas as pd

from pipeline.ecg.heldout import HELDOUT_DIR, paired_images
from pipeline.ecg.metric import score_frames


def evaluate_heldout(config=None, root=HELDOUT_DIR) -> pd.DataFrame:
    """Per image SNR on shared/heldout/paired_images, plus an 'all' row (mean of linear ratios).
    config: the DigitizeConfig (default: DigitizeConfig(), with the shipped segmenter if any)."""
    from pipeline.ecg.digitize import DigitizeConfig, digitize_file

    config = config or DigitizeConfig()
    pairs = paired_images(root)
    truth = {p.image.stem: p.truth for p in pairs}
    pred = {p.image.stem: digitize_file(p.image, p.fs, config).to_record() for p in pairs}
    report = score_frames(truth, pred, {p.image.stem: p.fs for p in pairs})
    table = report.per_image[["id", "snr_db", "challenge2024_db"]].copy()
    all_row = pd.DataFrame([{"id": "all", "snr_db": report.snr_db,
                             "challenge2024_db": table["challenge2024_db"].mean()}])
    return pd.concat([table, all_row], ignore_index=True)
