"""Reading image files with clear errors: missing, empty, truncated, not an image, absurdly large.

Decoders (OpenCV's included) may return a partial image for a truncated PNG or JPEG and only log a
warning, so completeness is checked on the bytes; the pixel count is read from the header before the
whole image is decoded, so a decompression bomb fails in a millisecond instead of filling memory.
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np

from pipeline.core.errors import PipelineError

MAX_PIXELS = 100_000_000
"""Largest image decoded (100 Mpx, about 300 MB as BGR): a 12 Mpx phone photo is far below it."""
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def check_complete(data: bytes, path: str | Path) -> None:
    """Reject truncated PNG and JPEG files (decoders may silently return a partial image)."""
    if data[:8] == _PNG_MAGIC:
        if b"IEND" not in data[-32:]:
            raise PipelineError("truncated PNG image (no IEND chunk at the end)", path)
    elif data[:2] == b"\xff\xd8":
        if b"\xff\xd9" not in data[-64:]:
            raise PipelineError("truncated JPEG image (no end-of-image marker)", path)


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG or JPEG header, or None for other formats or unparsable headers."""
    if data[:8] == _PNG_MAGIC and len(data) >= 24 and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                return None
            marker = data[i + 1]
            if marker == 0xFF:  # fill byte
                i += 1
                continue
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
                i += 2
                continue
            length = struct.unpack(">H", data[i + 2:i + 4])[0]
            if marker in _JPEG_SOF:
                height, width = struct.unpack(">HH", data[i + 5:i + 9])
                return width, height
            i += 2 + length
    return None


def read_image_bytes(path: str | Path, max_pixels: int = MAX_PIXELS) -> bytes:
    """The bytes of an image file that exists, is not empty, is complete and not too large."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise PipelineError(f"cannot read image ({err.strerror or err})", path) from err
    if not data:
        raise PipelineError("empty image file (0 bytes)", path)
    check_complete(data, path)
    size = header_size(data)
    if size is not None and size[0] * size[1] > max_pixels:
        raise PipelineError(f"image too large ({size[0]}x{size[1]} px, more than {max_pixels / 1e6:.0f} Mpx)",
                            path)
    return data


def decode_image(path: str | Path, flags: int = cv2.IMREAD_UNCHANGED, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode an image file with OpenCV `flags`; PipelineError naming the file if it is unusable."""
    data = read_image_bytes(path, max_pixels)
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags)
    if image is None or image.size == 0:
        raise PipelineError("not a readable image (unknown format or corrupt data)", path)
    return image


def check_image_file(path: str | Path, max_pixels: int = MAX_PIXELS) -> None:
    """Cheap validity check without decoding: the file exists, is not empty, is a PNG or JPEG (or another
    format OpenCV knows) that is complete and not too large. Reads only the head and the tail."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(1 << 16)
            f.seek(max(0, size - 64))
            tail = f.read(64)
    except OSError as err:
        raise PipelineError(f"cannot read image ({err.strerror or err})", path) from err
    if size == 0:
        raise PipelineError("empty image file (0 bytes)", path)
    if head[:8] == _PNG_MAGIC or head[:2] == b"\xff\xd8":
        check_complete(head[:8] + tail, path)
        dims = header_size(head)
        if dims is not None and dims[0] * dims[1] > max_pixels:
            raise PipelineError(f"image too large ({dims[0]}x{dims[1]} px, more than {max_pixels / 1e6:.0f} Mpx)",
                                path)
        return
    if not cv2.haveImageReader(str(path)):
        raise PipelineError("not a readable image (unknown format)", path)
