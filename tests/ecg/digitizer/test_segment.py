"""The row segmenter's maths and checkpoint handling (pipeline/ecg/digitizer/segment.py), on tiny arrays and nets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.core.errors import PipelineError
from pipeline.ecg.digitizer.segment import (
    N_ROWS,
    SegmentConfig,
    build_model,
    net_input,
    predict_rows,
    read_checkpoint,
    row_probabilities,
    save_checkpoint,
    shrink,
    shrink_mask,
)

TINY = SegmentConfig(encoder="resnet18", encoder_depth=3, decoder_channels=(16, 8, 8), scale=2)


def test_shrink_mask_keeps_one_pixel_strokes_and_later_rows_win() -> None:
    mask = np.zeros((8, 8), np.uint8)
    mask[3, :] = 1  # a 1-px horizontal stroke of row 0
    mask[:, 5] = 2  # a 1-px vertical stroke of row 1 crossing it
    small = shrink_mask(mask, 2)
    assert small.shape == (4, 4)
    assert (small[1, [0, 1, 3]] == 1).all()  # the horizontal stroke survives in every column
    assert (small[:, 2] == 2).all()  # the vertical one in every row, winning at the crossing


def test_net_input_channels_and_height_fraction() -> None:
    img = np.full((10, 6, 3), 255, np.uint8)
    img[..., 0] = 0
    x = net_input(img)
    assert x.shape == (4, 10, 6) and x.dtype == np.float32
    assert np.allclose(x[0], -1.0) and np.allclose(x[1:3], 1.0)
    assert np.allclose(x[3, :, 0], (np.arange(10) + 0.5) / 10) and np.allclose(x[3, 4], x[3, 4, 0])
    crop = net_input(img, y_frac=np.linspace(0.2, 0.3, 10))
    assert np.isclose(crop[3, 0, 0], 0.2) and np.isclose(crop[3, -1, 0], 0.3)


def test_shrink_halves_and_keeps_thin_dark_lines_visible() -> None:
    img = np.full((40, 60, 3), 250, np.uint8)
    img[21, :] = 0
    small = shrink(img, 2)
    assert small.shape == (20, 30, 3)
    assert small[10].mean() < 150 and small[5].mean() > 240


def test_predict_rows_full_resolution_probabilities() -> None:
    import torch

    torch.manual_seed(0)
    model = build_model(TINY).eval()
    img = np.random.default_rng(0).integers(0, 255, (90, 130, 3), dtype=np.uint8)
    rows = predict_rows(model, img, TINY.scale)
    assert rows.shape == (N_ROWS, 90, 130) and rows.dtype == np.float32
    assert np.isfinite(rows).all() and rows.min() >= 0.0 and rows.sum(axis=0).max() <= 1.0 + 1e-4


def test_checkpoint_round_trip_gives_the_same_probabilities(tmp_path: Path) -> None:
    import torch

    torch.manual_seed(1)
    model = build_model(TINY).eval()
    path = tmp_path / "seg.pt"
    digest = save_checkpoint(path, model, TINY, {"data_hash": "abc", "command": "x"})
    assert len(digest) == 64
    loaded, config, facts = read_checkpoint(path)
    assert config == TINY and facts["data_hash"] == "abc"
    img = np.random.default_rng(1).integers(0, 255, (64, 96, 3), dtype=np.uint8)
    model.load_state_dict({k: v.half().float() if v.is_floating_point() else v for k, v in model.state_dict().items()})
    np.testing.assert_allclose(row_probabilities(img, path), predict_rows(model, img, TINY.scale), atol=1e-4)
    assert save_checkpoint(tmp_path / "again.pt", model, TINY, {"data_hash": "abc", "command": "x"}) == digest


@pytest.mark.parametrize("content", [b"", b"not a torch file", None])
def test_damaged_or_missing_checkpoint_is_one_clear_error(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "broken.pt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(PipelineError) as err:
        read_checkpoint(path)
    assert "broken.pt" in str(err.value) and "\n" not in str(err.value)


def test_shipped_checkpoint_loads_and_is_recorded() -> None:
    """The default checkpoint ships in the package with its sha256 and the command that made it."""
    import json

    from pipeline.core.io import sha256_file
    from pipeline.ecg.digitizer.segment import DEFAULT_CHECKPOINT

    record = json.loads(DEFAULT_CHECKPOINT.with_suffix(".json").read_text())
    assert record["sha256"] == sha256_file(DEFAULT_CHECKPOINT)
    assert record["command"].startswith("python -m pipeline ecg stage1")
    assert DEFAULT_CHECKPOINT.stat().st_size < 8 * 2**20
    _, config, facts = read_checkpoint(DEFAULT_CHECKPOINT)
    assert facts["data_hash"] == record["data_hash"] and config.scale == 2
