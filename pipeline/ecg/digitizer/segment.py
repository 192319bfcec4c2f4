"""Step 5 of the digitizer (optional), learned lead-row segmentation: a segmentation-models-pytorch U-Net gives, for
every pixel of the calibrated page, the probability that it is ink of each of the four trace rows
(softmax with background), so that crossing and overlapping rows can be told apart.

The net sees the page at half resolution (a 200 dpi page is 1100 x 850 there) with a fourth input
channel holding the pixel's height on the page (0 at the top, 1 at the bottom): which row a stroke
belongs to is partly a matter of where it is, and training crops are narrow. Probabilities are brought
back to full resolution bilinearly.

A checkpoint is a torch file holding the config, the state dict and facts about its training (data
hash, command); `load_segmenter` caches one model per path and process.
"""

from __future__ import annotations

import functools
import hashlib
import io
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipeline.core.errors import PipelineError
from pipeline.core.io import write_bytes_atomic

N_ROWS = 4
N_CLASSES = N_ROWS + 1
PAD_TO = 32
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "weights" / "segment_default.pt"
"""The checkpoint shipped with the package (see weights/README.md for how it was made)."""


@dataclass(frozen=True)
class SegmentConfig:
    encoder: str = "tu-mobilenetv3_small_100"
    """smp encoder name; the tu- prefix takes any timm backbone."""
    encoder_depth: int = 5
    decoder_channels: tuple[int, ...] = (64, 32, 16, 16, 8)
    scale: int = 2
    """The page is shrunk by this factor before the net sees it."""


def build_model(config: SegmentConfig = SegmentConfig(), pretrained: bool = False):
    """The U-Net, randomly initialised (pretrained=True: the encoder's ImageNet weights, needs network)."""
    import segmentation_models_pytorch as smp  # deferred on purpose: heavy optional dependency

    return smp.Unet(config.encoder, encoder_weights="imagenet" if pretrained else None,
                    encoder_depth=config.encoder_depth, decoder_channels=tuple(config.decoder_channels),
                    in_channels=4, classes=N_CLASSES)


def shrink(image_bgr: np.ndarray, scale: int) -> np.ndarray:
    """The page as the net sees it: area-averaged down by `scale` (thin strokes stay visible as grey)."""
    h, w = image_bgr.shape[:2]
    if scale == 1:
        return image_bgr
    return cv2.resize(image_bgr, (max(1, w // scale), max(1, h // scale)), interpolation=cv2.INTER_AREA)


def shrink_mask(mask: np.ndarray, scale: int) -> np.ndarray:
    """A row mask (0 background, r + 1 row r) down by `scale`: a small pixel takes the highest label among
    the pixels it covers, so 1-px strokes survive."""
    if scale == 1:
        return mask
    h, w = (mask.shape[0] // scale) * scale, (mask.shape[1] // scale) * scale
    return mask[:h, :w].reshape(h // scale, scale, w // scale, scale).max(axis=(1, 3))


def net_input(small_bgr: np.ndarray, y_frac: np.ndarray | None = None) -> np.ndarray:
    """4 x h x w float32: the colour channels scaled to [-1, 1] and the height channel in [0, 1].

    y_frac: the height fraction of each image row (defaults to the image's own rows); a crop passes
    its rows' fractions of the whole page."""
    h, w = small_bgr.shape[:2]
    if y_frac is None:
        y_frac = (np.arange(h) + 0.5) / h
    colour = small_bgr.astype(np.float32).transpose(2, 0, 1) / 127.5 - 1.0
    height = np.broadcast_to(np.asarray(y_frac, np.float32)[None, :, None], (1, h, w))
    return np.concatenate([colour, height], axis=0)


def pad_to_multiple(x: np.ndarray, multiple: int = PAD_TO) -> tuple[np.ndarray, int, int]:
    _, h, w = x.shape
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, ph), (0, pw)), mode="edge")
    return x, h, w


def class_probabilities(model, small_bgr: np.ndarray) -> np.ndarray:
    """5 x h x w float32 softmax (background, rows 0-3) of a page already shrunk to the net's scale."""
    import torch  # deferred on purpose: heavy optional dependency

    x, h, w = pad_to_multiple(net_input(small_bgr))
    device = next(model.parameters()).device
    with torch.inference_mode():
        t = torch.from_numpy(x)[None].to(device).contiguous(memory_format=torch.channels_last)
        return torch.softmax(model(t).float(), dim=1)[0, :, :h, :w].cpu().numpy()


def predict_rows(model, image_bgr: np.ndarray, scale: int = 2) -> np.ndarray:
    """4 x H x W float32: for each trace row, the probability that the page pixel is its ink."""
    h_full, w_full = image_bgr.shape[:2]
    prob = class_probabilities(model, shrink(image_bgr, scale))[1:]
    return np.stack([cv2.resize(p, (w_full, h_full), interpolation=cv2.INTER_LINEAR) for p in prob])


def save_checkpoint(path: Path, model, config: SegmentConfig, facts: dict[str, Any]) -> str:
    """Write the checkpoint atomically (weights as float16 to keep the shipped file small); its sha256."""
    import torch  # deferred on purpose: heavy optional dependency


    state = {k: (v.half() if v.is_floating_point() else v).cpu() for k, v in model.state_dict().items()}
    buf = io.BytesIO()
    torch.save({"config": asdict(config), "state_dict": state, "facts": facts}, buf)
    data = buf.getvalue()
    write_bytes_atomic(Path(path), data)
    return hashlib.sha256(data).hexdigest()


def read_checkpoint(path: Path) -> tuple[Any, SegmentConfig, dict[str, Any]]:
    """(model in eval mode, its config, its facts); PipelineError naming the file if it is not one."""
    import torch  # deferred on purpose: heavy optional dependency

    path = Path(path)
    if not path.is_file():
        raise PipelineError("segmentation checkpoint not found", path)
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        raw = dict(blob["config"])
        raw["decoder_channels"] = tuple(raw["decoder_channels"])
        config = SegmentConfig(**raw)
        model = build_model(config)
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in blob["state_dict"].items()})
    except PipelineError:
        raise
    except Exception as err:  # torch raises many kinds for a damaged file
        raise PipelineError(f"not a readable segmentation checkpoint ({type(err).__name__})", path) from err
    model.eval().to(memory_format=torch.channels_last)
    return model, config, dict(blob.get("facts", {}))


@functools.lru_cache(maxsize=2)
def load_segmenter(path: str) -> tuple[Any, SegmentConfig]:
    """The model of a checkpoint, loaded once per process (stage2 workers each load their own)."""
    import torch  # deferred on purpose: heavy optional dependency

    torch.set_num_threads(max(1, min(torch.get_num_threads(), 2)))
    model, config, _ = read_checkpoint(Path(path))
    return model, config


def row_probabilities(image_bgr: np.ndarray, checkpoint: str | Path) -> np.ndarray:
    """4 x H x W row probabilities of a calibrated page from the checkpoint's model."""
    model, config = load_segmenter(str(checkpoint))
    return predict_rows(model, image_bgr, config.scale)
