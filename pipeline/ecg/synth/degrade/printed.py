"""What the competition's printed pages (types 0003-0012) carry beyond the kit's render: a QR code at
the top right (about 13 mm square, its top 2 mm below the page's edge), printed in the trace's ink."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from pipeline.ecg.synth.degrade.base import RenderedPage


def qr_modules(text: str) -> np.ndarray:
    """The QR code of `text` as a bool array of modules (True: dark), quiet zone included (OpenCV's encoder)."""
    code = cv2.QRCodeEncoder.create().encode(text)
    return np.asarray(code) < 128


def with_qr_code(page: RenderedPage, rng: np.random.Generator) -> RenderedPage:
    """The page with a QR code of a random record number printed at its top right; truth unchanged
    (the code is no trace)."""
    modules = qr_modules(f"{int(rng.integers(10**6, 10**9))}")
    px_per_mm = page.layout.px_per_mm
    size = int(round(rng.uniform(12.0, 14.0) * px_per_mm))
    stamp = cv2.resize(modules.astype(np.uint8) * 255, (size, size), interpolation=cv2.INTER_AREA)
    h, w = page.image.shape[:2]
    x0 = int(round(w - size - rng.uniform(4.0, 7.0) * px_per_mm))
    y0 = int(round(rng.uniform(1.0, 3.0) * px_per_mm))
    if x0 < 0 or y0 + size > h:
        return page
    img = page.image.copy()
    alpha = (stamp.astype(np.float32) / 255.0)[..., None]
    ink = np.float32(rng.uniform(0, 40))
    region = img[y0:y0 + size, x0:x0 + size].astype(np.float32)
    img[y0:y0 + size, x0:x0 + size] = np.round(region * (1 - alpha) + ink * alpha).astype(np.uint8)
    return replace(page, image=img)
