"""What the competition's printed pages (types 0003-0012) carry beyond the clean render: the QR code that
ecg-image-kit pastes last (`--add_qr_code`), black on white at the image's top-right corner, 5 px per
module at 200 dpi with a 4-module white border (version 1: 29 x 29 modules, 145 px)."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from pipeline.ecg.layout import DPI
from pipeline.ecg.synth.degrade.base import RenderedPage

MODULE_PX_AT_DPI = 5
BORDER_MODULES = 4


def qr_modules(text: str, border: int = BORDER_MODULES) -> np.ndarray:
    """The QR code of `text` as a bool array of modules (True: dark) with a `border`-module quiet zone."""
    code = np.asarray(cv2.QRCodeEncoder.create().encode(text)) < 128
    ys, xs = np.nonzero(code)
    core = code[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    return np.pad(core, border, constant_values=False)


def with_qr_code(page: RenderedPage, rng: np.random.Generator) -> RenderedPage:
    """The page with the QR code of a random record number at its top-right corner (white border
    included, as the kit pastes it); truth unchanged (the code is no trace)."""
    modules = qr_modules(f"{int(rng.integers(10**6, 10**9))}")
    module_px = MODULE_PX_AT_DPI * page.layout.px_per_mm / (DPI / 25.4)
    size = int(round(modules.shape[0] * module_px))
    h, w = page.image.shape[:2]
    if size > min(h, w) // 4:
        return page
    stamp = cv2.resize((~modules).astype(np.uint8) * 255, (size, size), interpolation=cv2.INTER_AREA)
    img = page.image.copy()
    img[:size, w - size:] = stamp[..., None]
    return replace(page, image=img)
