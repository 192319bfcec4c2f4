"""stage1 for ECG: train the row segmenter (digitizer/segment.py) on rendered pages (segmenter_data.py) on CPU.

Pages are made once (in parallel, cached as .npz under the output folder, so a rerun resumes), then the
U-Net learns on full-height strips (the whole page height, so every strip shows all four rows) with
weighted cross-entropy plus soft Dice on the rows. Each epoch ends with pixel IoU on validation pages
and the competition SNR (metric.py) of the whole digitizer run with the current weights on freshly
rendered validation images. The last epoch's weights are the checkpoint; a PNG shows the curves.
Threads are capped (2 by default) and CUDA/AMP are used when present.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from pipeline.core.io import atomic_path, write_json_atomic
from pipeline.core.parallel import parallel_map
from pipeline.core.seeding import derive_seed, rng_for
from pipeline.ecg.digitizer.digitize import DigitizeConfig, digitize_image
from pipeline.ecg.digitizer.segment import (
    N_CLASSES,
    SegmentConfig,
    build_model,
    class_probabilities,
    load_segmenter,
    net_input,
    save_checkpoint,
)
from pipeline.ecg.evaluation.metric import score_frames, score_ratios
from pipeline.ecg.synth.render import kaggle_frame
from pipeline.ecg.training.segmenter_data import TrainingPage, degraded_shot, load_page, save_page, training_page

log = logging.getLogger(__name__)
VAL_OFFSET = 1_000_000
"""Validation pages and images are numbered from here: never among the training pages."""


@dataclass(frozen=True)
class SegmentTrainConfig:
    model: SegmentConfig = SegmentConfig()
    n_pages: int = 360
    n_val_pages: int = 18
    n_val_images: int = 9
    epochs: int = 12
    steps_per_epoch: int = 200
    batch: int = 6
    crop_width: int = 256
    lr: float = 3e-3
    weight_decay: float = 1e-4
    row_weight: float = 3.0
    """Cross-entropy weight of the row classes against background (1)."""
    dice_weight: float = 0.5
    minutes: float = 0.0
    """Stop after this much training time (0: no limit); the best checkpoint so far is kept."""
    threads: int = 2
    seed: int = 0
    pretrained: bool = False


def _make_page(job: tuple[int, int, str, int]) -> str:
    seed, index, out, scale = job
    path = Path(out) / f"{index:07d}.npz"
    if not path.exists():
        save_page(training_page(seed, index, scale), path)
    return str(path)


def make_pages(folder: Path, seed: int, indices: list[int], scale: int, workers: int) -> list[TrainingPage]:
    """The pages, rendered where not cached yet (a rerun resumes)."""
    jobs = [(seed, i, str(folder), scale) for i in indices]
    paths = parallel_map(_make_page, jobs, workers, desc="segmenter pages")
    return [load_page(Path(p)) for p in paths]


def _batch(pages: list[TrainingPage], rng: np.random.Generator, batch: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Random full-height strips with brightness, contrast and colour-balance jitter."""
    xs, ys = [], []
    for _ in range(batch):
        page = pages[int(rng.integers(len(pages)))]
        h, w = page.mask.shape
        x0 = int(rng.integers(0, max(1, w - width + 1)))
        img = page.image[:, x0:x0 + width].astype(np.float32)
        gain = rng.uniform(0.75, 1.25) * rng.uniform(0.9, 1.1, size=3)
        img = np.clip((img - 128.0) * gain + 128.0 + rng.uniform(-25, 25), 0, 255)
        if rng.random() < 0.3:
            img = np.repeat(img.mean(axis=2, keepdims=True), 3, axis=2)
        x = net_input(img.astype(np.uint8), (np.arange(h) + 0.5) / h)
        xs.append(x[:, : h - h % 32])
        ys.append(page.mask[: h - h % 32, x0:x0 + width].astype(np.int64))
    return np.stack(xs), np.stack(ys)


def _loss(logits, target, row_weight: float, dice_weight: float):
    import torch  # deferred on purpose: heavy optional dependency
    import torch.nn.functional as F  # deferred on purpose: heavy optional dependency

    weight = torch.tensor([1.0] + [row_weight] * (N_CLASSES - 1), device=logits.device)
    ce = F.cross_entropy(logits, target, weight=weight)
    prob = torch.softmax(logits, dim=1)[:, 1:]
    onehot = F.one_hot(target, N_CLASSES).permute(0, 3, 1, 2)[:, 1:].float()
    inter = (prob * onehot).sum(dim=(0, 2, 3))
    dice = 1.0 - (2 * inter + 1.0) / (prob.sum(dim=(0, 2, 3)) + onehot.sum(dim=(0, 2, 3)) + 1.0)
    return ce + dice_weight * dice.mean()


def pixel_iou(model, pages: list[TrainingPage]) -> float:
    """Mean over rows of the intersection over union of predicted and true row pixels."""
    inter = np.zeros(N_CLASSES - 1)
    union = np.zeros(N_CLASSES - 1)
    model.eval()
    for page in pages:
        pred = class_probabilities(model, page.image).argmax(axis=0)
        for r in range(1, N_CLASSES):
            a, b = pred == r, page.mask == r
            inter[r - 1] += np.logical_and(a, b).sum()
            union[r - 1] += np.logical_or(a, b).sum()
    model.train()
    return float(np.mean(inter / np.maximum(union, 1)))


def validation_images(seed: int, n: int) -> list[tuple[str, str, int, np.ndarray, Any]]:
    """(key, image type, fs, degraded BGR image, record) for n fresh validation records."""
    base = derive_seed(seed, "segment-val")
    out = []
    for k in range(n):
        key = f"segval{VAL_OFFSET + k}"
        record, shot, fs, image_type = degraded_shot(base, key, k)
        out.append((key, image_type, fs, np.ascontiguousarray(shot.image[..., ::-1]), kaggle_frame(record, fs)))
    return out


def validation_snr(checkpoint: Path, images) -> tuple[float, dict[str, float]]:
    """SNR of the digitizer using this checkpoint on the validation images: all, per type."""
    load_segmenter.cache_clear()
    config = DigitizeConfig(segmenter=str(checkpoint))
    truth, pred, fs_by = {}, {}, {}
    for key, _, fs, image, record in images:
        truth[key], fs_by[key] = record, fs
        pred[key] = digitize_image(image, fs, config).to_record()
    report = score_frames(truth, pred, fs_by)
    kinds = {key: kind for key, kind, *_ in images}
    per = report.per_image.assign(kind=lambda d: d["id"].map(kinds))
    return report.snr_db, {k: round(score_ratios(g["ratio"].to_numpy()), 2) for k, g in per.groupby("kind")}


def plot_curves(history: list[dict[str, Any]], path: Path) -> None:
    import matplotlib  # deferred on purpose: heavy optional dependency

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # deferred on purpose: heavy optional dependency


    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    axes[0].plot(epochs, [h["train_loss"] for h in history], marker="o")
    axes[0].set_title("training loss")
    axes[1].plot(epochs, [h["val_iou"] for h in history], marker="o", color="tab:green")
    axes[1].set_title("validation pixel IoU (rows)")
    axes[2].plot(epochs, [h["val_snr_db"] for h in history], marker="o", color="tab:red")
    axes[2].set_title("validation SNR (dB), whole digitizer")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def train_segmenter(out_dir: Path, config: SegmentTrainConfig = SegmentTrainConfig(), workers: int = 2,
                    command: str = "", pages_dir: Path | None = None) -> dict[str, Any]:
    """Train and write out_dir/segment.pt (the last epoch's weights), history.json and curves.png.

    pages_dir: where the rendered pages are cached (default out_dir/pages); pages are cached by index
    only, so a caller whose rendering code may change passes a folder named after that code's hash."""
    import torch  # deferred on purpose: heavy optional dependency

    out_dir = Path(out_dir)
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    scale = config.model.scale
    pages_dir = Path(pages_dir) if pages_dir is not None else out_dir / "pages"
    pages = make_pages(pages_dir, config.seed, list(range(config.n_pages)), scale, workers)
    val_pages = make_pages(pages_dir, config.seed,
                           list(range(VAL_OFFSET, VAL_OFFSET + config.n_val_pages)), scale, workers)
    val_images = validation_images(config.seed, config.n_val_images)
    data_hash = _pages_hash(pages)

    model = build_model(config.model, config.pretrained).to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    total = config.epochs * config.steps_per_epoch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=total, pct_start=0.1)
    amp = device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    rng = rng_for(config.seed, "segment-batches")
    history: list[dict[str, Any]] = []
    best = -np.inf
    facts = {"train_config": _jsonable(asdict(config)), "data_hash": data_hash, "command": command,
             "torch": str(torch.__version__)}
    start = time.perf_counter()
    trial = out_dir / "candidate.pt"
    for epoch in range(1, config.epochs + 1):
        model.train()
        losses = []
        for _ in tqdm(range(config.steps_per_epoch), desc=f"segmenter epoch {epoch}", unit="step"):
            x, y = _batch(pages, rng, config.batch, config.crop_width)
            xt = torch.from_numpy(x).to(device).contiguous(memory_format=torch.channels_last)
            yt = torch.from_numpy(y).to(device)
            with torch.autocast(device.type, enabled=amp):
                loss = _loss(model(xt), yt, config.row_weight, config.dice_weight)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            sched.step()
            losses.append(loss.item())
        model.eval()
        save_checkpoint(trial, model.cpu(), config.model, {**facts, "epoch": epoch})
        model.to(device)
        snr, per_type = validation_snr(trial, val_images)
        row = {"epoch": epoch, "train_loss": round(float(np.mean(losses)), 5),
               "val_iou": round(pixel_iou(model, val_pages), 4), "val_snr_db": round(snr, 3),
               "val_snr_by_type": per_type, "elapsed_s": round(time.perf_counter() - start, 1)}
        history.append(row)
        log.info("segmenter %s", json.dumps(row))
        print(json.dumps(row), flush=True)
        best = max(best, snr)
        # The one-cycle schedule ends at its lowest rate: the last epoch's weights are the model (the
        # validation SNR is reported, not used to pick, so the digitizer's code does not pick weights).
        trial.replace(out_dir / "segment.pt")
        write_json_atomic(out_dir / "history.json", {"history": history})
        plot_curves(history, out_dir / "curves.png")
        if config.minutes and time.perf_counter() - start > 60 * config.minutes:
            log.info("segmenter: time budget of %.0f min reached after epoch %d", config.minutes, epoch)
            break
    return {"final_val_snr_db": history[-1]["val_snr_db"], "best_val_snr_db": round(float(best), 3),
            "epochs_run": len(history), "data_hash": data_hash,
            "checkpoint": str(out_dir / "segment.pt"), "train_s": round(time.perf_counter() - start, 1)}


def _pages_hash(pages: list[TrainingPage]) -> str:
    h = hashlib.sha256()
    for page in pages:
        h.update(page.key.encode() + page.image.tobytes() + page.mask.tobytes())
    return h.hexdigest()[:16]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def settings(**overrides: Any) -> SegmentTrainConfig:
    """SegmentTrainConfig with the given fields replaced (CLI flags)."""
    return replace(SegmentTrainConfig(), **{k: v for k, v in overrides.items() if v is not None})
