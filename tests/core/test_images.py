from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.core.errors import PipelineError
from pipeline.core.images import check_image_file, decode_image, header_size, read_image_bytes
from pipeline.ecg.app.badinput import huge_png


def _page(h: int = 30, w: int = 50) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_header_size_of_png_and_jpeg() -> None:
    for ext in (".png", ".jpg"):
        data = cv2.imencode(ext, _page())[1].tobytes()
        assert header_size(data) == (50, 30)
    assert header_size(b"GIF89a....") is None
    assert header_size(huge_png(12000, 9000)) == (12000, 9000)


def test_too_large_is_refused_from_the_header(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(huge_png(12000, 9000))
    assert len(path.read_bytes()) < 1_000_000  # valid PNG, but 108 Mpx once decoded
    for call in (read_image_bytes, decode_image, check_image_file):
        with pytest.raises(PipelineError, match=r"bomb\.png: image too large \(12000x9000 px"):
            call(path)


def test_bad_files_fail_with_the_file_named(tmp_path: Path) -> None:
    good = tmp_path / "good.jpg"
    cv2.imwrite(str(good), _page(200, 300))
    data = good.read_bytes()
    cases = {"cut.jpg": (data[: len(data) // 2], "truncated JPEG"), "zero.png": (b"", "empty"),
             "text.png": (b"hello", "not a readable image")}
    for name, (content, problem) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(PipelineError, match=f"{name}: {problem}"):
            decode_image(tmp_path / name)
        with pytest.raises(PipelineError, match=name):
            check_image_file(tmp_path / name)
    with pytest.raises(PipelineError, match="missing.png: cannot read image"):
        decode_image(tmp_path / "missing.png")
    check_image_file(good)
    assert decode_image(good, cv2.IMREAD_COLOR).shape == (200, 300, 3)
