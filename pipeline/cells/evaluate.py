"""Evaluation shared by the cell tasks: probabilities, embeddings, per-class metrics, confusion plots, kNN.

Arrays in, arrays or dicts out; the plotting function is the only one that writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support
from sklearn.neighbors import KNeighborsClassifier

from pipeline.cells.train import batches, deterministic_torch, to_tensor
from pipeline.core.io import atomic_path


DIHEDRAL = tuple((flip, turns) for flip in (False, True) for turns in range(4))


def dihedral_views(x: torch.Tensor) -> list[torch.Tensor]:
    """The 8 flips/quarter turns of a batch (N, C, S, S), for test-time augmentation."""
    return [torch.rot90(x.flip(3) if flip else x, turns, dims=(2, 3)) for flip, turns in DIHEDRAL]


@torch.no_grad()
def predict(model: torch.nn.Module, images: np.ndarray, batch_size: int = 256, threads: int = 2,
            with_embeddings: bool = False, tta: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Softmax probabilities (N, K) float64 and, optionally, penultimate embeddings (N, D), on CPU.

    The embedding is timm's pre-logits feature (after global pooling), so it works for any timm backbone.
    `tta` averages the probabilities of the 8 dihedral views (labels must be invariant to them); embeddings
    always come from the plain view.
    """
    model = model.cpu().eval()
    probs, embs = [], []
    with deterministic_torch(0, threads):
        for idx in batches(len(images), batch_size):
            x = to_tensor(images[idx])
            if with_embeddings:
                features = model.forward_features(x)
                logits = model.forward_head(features)
                embs.append(model.forward_head(features, pre_logits=True).flatten(1).double().numpy())
            else:
                logits = model(x)
            p = torch.softmax(logits.double(), dim=1)
            if tta:
                for view in dihedral_views(x)[1:]:
                    p += torch.softmax(model(view.contiguous(memory_format=torch.channels_last)).double(), dim=1)
                p /= len(DIHEDRAL)
            probs.append(p.numpy())
    k = model.num_classes if hasattr(model, "num_classes") else 0
    proba = np.concatenate(probs) if probs else np.zeros((0, k))
    emb = (np.concatenate(embs) if embs else np.zeros((0, 0))) if with_embeddings else None
    return proba, emb


def classification_metrics(y_true: np.ndarray, proba: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """Accuracy, balanced accuracy, macro F1, log loss, per-class precision/recall/F1/support, confusion."""
    y_true = np.asarray(y_true, dtype=np.int64)
    k = len(classes)
    y_pred = proba.argmax(1) if len(proba) else np.zeros(0, dtype=np.int64)
    labels = list(range(k))
    p, r, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    present = support > 0
    eps = 1e-12
    log_loss = float(-np.mean(np.log(np.clip(proba[np.arange(len(y_true)), y_true], eps, 1.0)))) if len(y_true) else 0.0
    return {
        "n": int(len(y_true)),
        "accuracy": float((y_pred == y_true).mean()) if len(y_true) else 0.0,
        "balanced_accuracy": float(r[present].mean()) if present.any() else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "log_loss": log_loss,
        "per_class": {c: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f1[i]),
                          "support": int(support[i])} for i, c in enumerate(classes)},
        "confusion": cm.tolist(),
        "classes": list(classes),
    }


def knn_accuracy(train_emb: np.ndarray, train_y: np.ndarray, test_emb: np.ndarray, test_y: np.ndarray,
                 k: int = 5) -> float:
    """Accuracy of a k-nearest-neighbour vote (cosine) in embedding space: how well classes cluster."""
    def unit(a: np.ndarray) -> np.ndarray:
        return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)

    knn = KNeighborsClassifier(n_neighbors=min(k, len(train_y)), metric="euclidean", algorithm="brute")
    knn.fit(unit(train_emb), train_y)
    return float((knn.predict(unit(test_emb)) == np.asarray(test_y)).mean())


def plot_confusion(cm: np.ndarray | list, classes: Sequence[str], path: str | Path, title: str = "confusion") -> None:
    """Counts with row-normalised shading (rows = truth)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(cm)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    size = 1.2 + 0.6 * len(classes)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", color="white" if norm[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, label="fraction of row")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png", metadata={"Software": None})
    plt.close(fig)
