"""Sharp QRS apexes: where the two flanks of a narrow peak merge into one horizontal ink run, the run's
edges belong to the two flanks (they part in opposite directions); read as one stroke, its centre
stacked points straight below the apex and the sample there came out up to 0.2 mV (15 px) low."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.ecg.signals import row_signal, sample_row
from pipeline.ecg.trace import trace_row

PX_PER_MV, PX_PER_S, SHIFT = 78.74, 196.85, 8


@pytest.mark.parametrize("fs", [250, 500])
@pytest.mark.parametrize("x0", [100.0, 100.3])
def test_sharp_peak_and_trough_keep_their_height(fs, x0):
    base = 200.0
    t = np.arange(int(1.0 * fs)) / fs
    truth = (2.0 * np.maximum(0, 1 - np.abs(t - 0.5) / 0.03)      # R: 2 mV up in 30 ms (27 px per px)
             + 1.5 * np.maximum(0, 1 - np.abs(t - 0.2) / 0.1)     # a broad wave
             - 1.0 * np.maximum(0, 1 - np.abs(t - 0.8) / 0.02))   # S: 1 mV down in 20 ms
    img = np.zeros((300, 400), np.uint8)
    pts = np.stack([x0 + t * PX_PER_S, base - truth * PX_PER_MV], axis=1)
    cv2.polylines(img, [np.round(pts * (1 << SHIFT)).astype(np.int32).reshape(-1, 1, 2)], False, 255, 2,
                  cv2.LINE_AA, SHIFT)
    tr = trace_row(img.astype(np.float32) / 255, (5, 295), (99, 300), base)
    values, _ = sample_row(row_signal(tr.points_x, tr.points_y, base, PX_PER_MV, tr.x0), x0 + t * PX_PER_S, 0.0)
    for centre in (0.2, 0.5, 0.8):
        i = int(round(centre * fs))
        assert abs(values[i] - truth[i]) < 0.02, (centre, values[i], truth[i])
    err = values - truth
    assert 10 * np.log10(np.sum(truth ** 2) / np.sum(err ** 2)) > 33.0
