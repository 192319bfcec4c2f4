"""A small, reusable image classifier trainer for every cell task (design section 5, stage1).

Input is an index DataFrame with columns `path, label, split` (split in train/val/test). Images are
decoded once, resized to `image_size` and kept in memory as uint8, so an epoch costs only the network.
The backbone is any timm model, from scratch by default (`pretrained=True` when weights can be had).
Training is deterministic for a given seed and thread count: fixed seeds, seeded shuffles and
augmentations, deterministic algorithms. Early stopping keeps the best epoch on the validation split.
Writes checkpoint.pt (weights + config + classes + data hash), history.csv, training_curve.png and
metrics.json to the output folder.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import math
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm import tqdm

from pipeline.cells.area_head import AreaCounter, dense_loss
from pipeline.core.errors import PipelineError
from pipeline.core.images import decode_image
from pipeline.core.io import atomic_path, write_json_atomic, write_text_atomic

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
AUGMENTS = ("none", "flip", "dihedral")
SCHEDULES = ("plateau", "onecycle")
HEADS = ("linear", "area")


@dataclass(frozen=True)
class TrainConfig:
    """How to train. `augment`: none, flip (horizontal) or dihedral (flips and quarter turns).

    schedule "plateau": linear warm-up over the first epoch, then the LR is cut by `lr_factor` whenever the
    validation loss has not improved for `lr_patience` epochs; training stops after `patience` epochs
    without improvement (early stopping and LR decay driven by the same signal). "onecycle": the fixed
    one-cycle schedule over `epochs` (early stopping still applies).

    head "linear": timm's own pooled classifier. "area": `AreaCounter` (pipeline/cells/area_head.py), the
    backbone cut at `head_stage`, deciding by per-location class fractions; when the data come with
    per-pixel class maps, `dense_weight` weighs their loss against the cross-entropy.
    """

    model: str = "test_byobnet"  # 0.2M-param ByobNet: ~10x faster on 2 CPU cores than resnet10t, as accurate here
    image_size: int = 64
    epochs: int = 30
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.0
    patience: int = 6
    schedule: str = "plateau"
    lr_patience: int = 2
    lr_factor: float = 0.3
    seed: int = 0
    threads: int = 2
    class_weights: bool = True
    augment: str = "dihedral"
    pretrained: bool = False
    device: str = "auto"
    amp: bool = True
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    head: str = "linear"
    head_stage: int = 2
    dense_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise PipelineError(f"schedule must be one of {', '.join(SCHEDULES)}, got '{self.schedule}'")
        if self.augment not in AUGMENTS:
            raise PipelineError(f"augment must be one of {', '.join(AUGMENTS)}, got '{self.augment}'")
        if self.head not in HEADS:
            raise PipelineError(f"head must be one of {', '.join(HEADS)}, got '{self.head}'")
        if self.image_size < 8 or self.epochs < 1 or self.batch_size < 1 or self.threads < 1:
            raise PipelineError("image_size >= 8, epochs, batch_size and threads >= 1 are required")


@dataclass(frozen=True)
class ImageSet:
    """Images of one split in memory: uint8 (N, S, S, 3) RGB and int64 class indices.

    `maps`, where exact per-pixel labels exist: uint8 (N, S, S, K+1), the share of each class and of
    'other' in every pixel, times 255 (targets for the area head's dense loss).
    """

    images: np.ndarray
    labels: np.ndarray
    maps: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class TrainResult:
    model: torch.nn.Module
    classes: tuple[str, ...]
    metrics: dict[str, Any]
    history: pd.DataFrame


# --- data -------------------------------------------------------------------------------------------------


def read_resized(path: str | Path, size: int) -> np.ndarray:
    """One image file -> RGB uint8 (size, size, 3), area-averaged (keeps colour mass exact-ish).

    Grey, RGBA (alpha dropped) and 16-bit files come out as 8-bit RGB; empty, truncated, corrupt or
    non-image files raise PipelineError naming the file.
    """
    img = decode_image(path, cv2.IMREAD_COLOR)
    if img.shape[:2] != (size, size):
        img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(img[:, :, ::-1])


def load_images(paths: Sequence[str | Path], size: int, threads: int = 2, desc: str = "loading images",
                progress: bool = True) -> np.ndarray:
    """Decode and resize many images into one uint8 array (N, size, size, 3), in order."""
    out = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:  # cv2 releases the GIL
        for i, img in enumerate(tqdm(pool.map(lambda p: read_resized(p, size), paths), total=len(paths),
                                     desc=desc, unit="img", disable=not progress or len(paths) < 200)):
            out[i] = img
    return out


def check_index(index: pd.DataFrame) -> None:
    missing = {"path", "label", "split"} - set(index.columns)
    if missing:
        raise PipelineError(f"index lacks the columns {sorted(missing)} (needs path, label, split)")


def class_names(index: pd.DataFrame) -> tuple[str, ...]:
    return tuple(sorted(index["label"].astype(str).unique()))


def image_set(index: pd.DataFrame, split: str, classes: Sequence[str], size: int, threads: int = 2,
              progress: bool = True) -> ImageSet:
    rows = index[index["split"] == split]
    lookup = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(rows["label"].astype(str)) - set(lookup))
    if unknown:
        raise PipelineError(f"split '{split}' has labels {unknown} outside the classes {list(classes)}")
    labels = np.array([lookup[c] for c in rows["label"].astype(str)], dtype=np.int64)
    return ImageSet(load_images(list(rows["path"]), size, threads, f"loading {split}", progress), labels)


def data_hash(*sets: ImageSet, classes: Sequence[str] = ()) -> str:
    """sha256 over the exact training pixels, labels and class names."""
    h = hashlib.sha256("\n".join(classes).encode())
    for s in sets:
        h.update(np.ascontiguousarray(s.images).data)
        h.update(s.labels.astype("<i8").tobytes())
        if s.maps is not None:
            h.update(np.ascontiguousarray(s.maps).data)
    return h.hexdigest()


def to_tensor(images: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 (N, S, S, 3) -> normalised float (N, 3, S, S), channels-last memory."""
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=x.device).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous(memory_format=torch.channels_last)


def augment_batch(x: torch.Tensor, mode: str, gen: torch.Generator) -> torch.Tensor:
    """Seeded per-sample flips (and transposes for dihedral): label-preserving for cells and circles."""
    if mode == "none":
        return x
    n = x.shape[0]
    flips = torch.rand((n, 3), generator=gen) < 0.5
    if mode == "flip":
        flips[:, 1:] = False
    out = x.clone()
    for axis, dims in ((0, (3,)), (1, (2,))):
        sel = flips[:, axis].nonzero().flatten().to(x.device)
        out[sel] = out[sel].flip(dims)
    sel = flips[:, 2].nonzero().flatten().to(x.device)
    out[sel] = out[sel].transpose(2, 3)
    return out.contiguous(memory_format=torch.channels_last)


def augmented_batch(data: ImageSet, idx: np.ndarray, mode: str, gen: torch.Generator,
                    device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor | None]:
    """A training batch and, when the set has class maps, the same flips applied to its maps (N, K+1, S, S)."""
    x = to_tensor(data.images[idx], device)
    if data.maps is None:
        return augment_batch(x, mode, gen), None
    maps = torch.from_numpy(data.maps[idx]).to(device).permute(0, 3, 1, 2).float().div_(255.0)
    both = augment_batch(torch.cat([x, maps], dim=1), mode, gen)
    return both[:, :3].contiguous(memory_format=torch.channels_last), both[:, 3:]


def batches(n: int, size: int, order: np.ndarray | None = None) -> Iterator[np.ndarray]:
    idx = np.arange(n) if order is None else order
    for i in range(0, n, size):
        yield idx[i:i + size]


# --- model ------------------------------------------------------------------------------------------------


def create_model(cfg: TrainConfig, num_classes: int) -> torch.nn.Module:
    import timm

    try:
        if cfg.head == "area":
            model = AreaCounter(cfg.model, num_classes, stage=cfg.head_stage, pretrained=cfg.pretrained)
        else:
            model = timm.create_model(cfg.model, pretrained=cfg.pretrained, num_classes=num_classes, in_chans=3,
                                      **cfg.model_kwargs)
    except RuntimeError as err:
        raise PipelineError(f"cannot create timm model '{cfg.model}': {err}") from None
    except Exception as err:  # pretrained weights need the network
        if cfg.pretrained:
            raise PipelineError(f"pretrained weights for '{cfg.model}' could not be loaded ({err}); "
                                "train from scratch (no --pretrained) or put the weights in the HF cache") from None
        raise
    return model.to(memory_format=torch.channels_last)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@contextlib.contextmanager
def deterministic_torch(seed: int, threads: int) -> Iterator[None]:
    """Seeds, thread count and deterministic kernels for a block; the previous global settings come back."""
    old_threads = torch.get_num_threads()
    old_det = torch.are_deterministic_algorithms_enabled()
    old_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    old_bench = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det, warn_only=old_warn)
        torch.backends.cudnn.benchmark = old_bench


def balanced_weights(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Inverse-frequency class weights, mean 1 over the samples (absent classes get 0)."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    weights = np.where(counts > 0, len(labels) / (num_classes * np.maximum(counts, 1)), 0.0)
    return weights


@torch.no_grad()
def evaluate_loss(model: torch.nn.Module, data: ImageSet, device: torch.device, batch_size: int = 256,
                  weights: torch.Tensor | None = None) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of a model on a split."""
    model.eval()
    total, correct, n = 0.0, 0, 0
    for idx in batches(len(data), batch_size):
        x = to_tensor(data.images[idx], device)
        y = torch.from_numpy(data.labels[idx]).to(device)
        logits = model(x).float()
        total += F.cross_entropy(logits, y, weight=weights, reduction="sum").item()
        correct += int((logits.argmax(1) == y).sum())
        n += len(idx)
    return total / max(n, 1), correct / max(n, 1)


def train_model(train: ImageSet, val: ImageSet, classes: Sequence[str], cfg: TrainConfig,
                progress: bool = True) -> tuple[torch.nn.Module, pd.DataFrame, dict[str, Any]]:
    """Train with AdamW + one-cycle LR; early stopping on validation loss; returns the best model (CPU)."""
    if len(train) == 0 or len(val) == 0:
        raise PipelineError("training needs images in both the train and the val split")
    device = pick_device(cfg.device)
    use_amp = cfg.amp and device.type == "cuda"
    dense = cfg.head == "area" and train.maps is not None and cfg.dense_weight > 0
    with deterministic_torch(cfg.seed, cfg.threads):
        model = create_model(cfg, len(classes)).to(device)
        weights = None
        if cfg.class_weights:
            weights = torch.tensor(balanced_weights(train.labels, len(classes)), dtype=torch.float32, device=device)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        steps_per_epoch = math.ceil(len(train) / cfg.batch_size)
        if cfg.schedule == "onecycle":
            sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, pct_start=0.15,
                                                        total_steps=cfg.epochs * steps_per_epoch)
        else:
            sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(1.0, (step + 1) / steps_per_epoch))
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=cfg.lr_factor, patience=cfg.lr_patience)
        scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
        gen = torch.Generator().manual_seed(cfg.seed)
        best: dict[str, Any] = {"val_loss": math.inf, "epoch": -1}
        best_state = copy.deepcopy(model.state_dict())
        history, waited, t0 = [], 0, time.perf_counter()
        for epoch in range(cfg.epochs):
            model.train()
            order = torch.randperm(len(train), generator=gen).numpy()
            run_loss, run_correct, seen = 0.0, 0, 0
            bar = tqdm(list(batches(len(train), cfg.batch_size, order)), desc=f"epoch {epoch + 1}/{cfg.epochs}",
                       unit="batch", leave=False, disable=not progress)
            for idx in bar:
                x, maps = augmented_batch(train, idx, cfg.augment, gen, device)
                y = torch.from_numpy(train.labels[idx]).to(device)
                with torch.autocast(device.type, enabled=use_amp):
                    if dense:
                        fractions = model.fraction_maps(model.forward_features(x))
                        logits = model.logits(fractions)
                    else:
                        logits = model(x)
                    loss = F.cross_entropy(logits.float(), y, weight=weights, label_smoothing=cfg.label_smoothing)
                    if dense:
                        loss = loss + cfg.dense_weight * dense_loss(fractions, maps, model.reduction)
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
                if cfg.schedule == "onecycle" or epoch == 0:  # plateau: warm-up only in epoch 1
                    sched.step()
                run_loss += loss.item() * len(idx)
                run_correct += int((logits.argmax(1) == y).sum())
                seen += len(idx)
            val_loss, val_acc = evaluate_loss(model, val, device, weights=weights)
            if cfg.schedule == "plateau":
                plateau.step(val_loss)
            row = {"epoch": epoch + 1, "train_loss": run_loss / seen, "train_acc": run_correct / seen,
                   "val_loss": val_loss, "val_acc": val_acc, "lr": opt.param_groups[0]["lr"],
                   "seconds": time.perf_counter() - t0}
            history.append(row)
            if progress:
                tqdm.write(f"epoch {epoch + 1}: train loss {row['train_loss']:.4f} acc {row['train_acc']:.4f} | "
                           f"val loss {val_loss:.4f} acc {val_acc:.4f}")
            if val_loss < best["val_loss"]:
                best, waited = {"val_loss": val_loss, "val_acc": val_acc, "epoch": epoch + 1}, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                waited += 1
                if waited >= cfg.patience:
                    break
        model.load_state_dict(best_state)
    seconds = time.perf_counter() - t0
    metrics = {"best_epoch": best["epoch"], "val_loss": best["val_loss"], "val_acc": best["val_acc"],
               "epochs_run": len(history), "seconds": round(seconds, 2),
               "train_images_per_s": round(len(train) * len(history) / max(seconds, 1e-9), 1),
               "device": str(device), "amp": use_amp, "n_train": len(train), "n_val": len(val)}
    return model.cpu().eval(), pd.DataFrame(history), metrics


# --- outputs ----------------------------------------------------------------------------------------------


def plot_history(history: pd.DataFrame, path: str | Path, title: str = "training curve") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax1.plot(history["epoch"], history["train_loss"], label="train")
    ax1.plot(history["epoch"], history["val_loss"], label="val")
    ax1.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax2.plot(history["epoch"], history["train_acc"], label="train")
    ax2.plot(history["epoch"], history["val_acc"], label="val")
    ax2.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png", metadata={"Software": None})
    plt.close(fig)


def save_checkpoint(path: str | Path, model: torch.nn.Module, cfg: TrainConfig, classes: Sequence[str],
                    digest: str, metrics: dict[str, Any]) -> None:
    payload = {"state_dict": model.state_dict(), "config": asdict(cfg), "classes": list(classes),
               "data_hash": digest, "metrics": metrics}
    with atomic_path(path) as tmp:
        buf = io.BytesIO()  # saved through a buffer: torch names the archive after the (random) temp file
        torch.save(payload, buf)
        tmp.write_bytes(buf.getvalue())


def load_checkpoint(path: str | Path) -> tuple[torch.nn.Module, TrainConfig, tuple[str, ...], dict[str, Any]]:
    """(model in eval mode on CPU, its config, class names, the whole checkpoint dict)."""
    path = Path(path)
    hint = "rerun stage1 with --force to retrain"
    if not path.is_file():
        raise PipelineError(f"checkpoint not found; {hint}", path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch.load raises pickle, zip, EOF and runtime errors for damaged files
        raise PipelineError(f"cannot load checkpoint ({type(err).__name__}: {err}); {hint}", path) from None
    try:
        cfg = TrainConfig(**{**ckpt["config"], "pretrained": False})
        classes = tuple(ckpt["classes"])
        model = create_model(cfg, len(classes))
        model.load_state_dict(ckpt["state_dict"])
    except (KeyError, TypeError, RuntimeError) as err:
        raise PipelineError(f"not a checkpoint of this trainer ({type(err).__name__}: {err}); {hint}", path) from None
    return model.eval(), cfg, classes, ckpt


def train_classifier(index: pd.DataFrame, cfg: TrainConfig, out_dir: str | Path,
                     classes: Sequence[str] | None = None, progress: bool = True,
                     class_maps: Callable[[pd.DataFrame, int], np.ndarray] | None = None) -> TrainResult:
    """Train on index rows with split 'train', early-stop on 'val'; write the model folder.

    `class_maps(rows, size)`, where a task has exact per-pixel labels, gives the training maps of those
    rows (see `ImageSet.maps`) for the area head's dense loss.
    """
    check_index(index)
    classes = tuple(classes) if classes else class_names(index)
    empty = [c for c in classes if not (index.loc[index["split"] == "train", "label"].astype(str) == c).any()]
    if empty:
        raise PipelineError(f"class(es) {', '.join(map(repr, empty))} have no images in the train split "
                            "(empty class folder?)")
    train = image_set(index, "train", classes, cfg.image_size, cfg.threads, progress)
    val = image_set(index, "val", classes, cfg.image_size, cfg.threads, progress)
    if class_maps is not None and cfg.head == "area":
        train = replace(train, maps=class_maps(index[index["split"] == "train"], cfg.image_size))
    digest = data_hash(train, val, classes=classes)
    model, history, metrics = train_model(train, val, classes, cfg, progress)
    metrics = {**metrics, "model": cfg.model, "image_size": cfg.image_size, "classes": list(classes),
               "data_hash": digest}
    out = Path(out_dir)
    save_checkpoint(out / "checkpoint.pt", model, cfg, classes, digest, metrics)
    write_text_atomic(out / "history.csv", history.to_csv(index=False, float_format="%.6f", lineterminator="\n"))
    plot_history(history, out / "training_curve.png", f"{cfg.model} at {cfg.image_size}px")
    write_json_atomic(out / "metrics.json", metrics)
    return TrainResult(model, classes, metrics, history)
