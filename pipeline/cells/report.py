"""stage3 of the cell tasks: the report, written to work/TASK/report/.

Every task: accuracy, balanced accuracy, per-class precision/recall/F1 and confusion matrices (val and
test), calibration (ECE, reliability diagram, temperature fitted on val and applied to test), Grad-CAM
grids, robustness curves under blur/JPEG/noise, embedding kNN accuracy. Staged sets (leukemia, all):
ordinal metrics. blood: in-distribution score AUROC against off-centre and multi-cell crops, a 2-D map
of the embedding. marrow: lineage grouping (immature BLA+PMO / mature EOS+LYT+MON+NGS / NIF apart),
NIF flagging by uncertainty, risk-coverage curve, and a table next to Matek et al. 2021.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import torch

from pipeline.cells.calibration import expected_calibration_error, fit_temperature, reliability_bins, scale_temperature
from pipeline.cells.common import write_csv
from pipeline.cells.corrupt import LEVELS, corrupt, multi_cell, off_centre
from pipeline.cells.datasets import MARROW_CODES, MARROW_GROUPS, MATEK_2021, DatasetSpec
from pipeline.cells.evaluate import classification_metrics, knn_accuracy, plot_confusion, predict
from pipeline.cells.ordinal import ordinal_metrics
from pipeline.cells.saliency import grad_cam
from pipeline.cells.selective import aurc, entropy, flag_auroc, group_proba, risk_coverage
from pipeline.cells.train import TrainConfig, load_images
from pipeline.core.io import atomic_path, write_json_atomic

REPORT_FILES: dict[str, tuple[str, ...]] = {
    "common": ("metrics.json", "per_class_val.csv", "per_class_test.csv", "confusion_val.png", "confusion_test.png",
               "predictions_test.csv", "reliability.csv", "reliability.png", "gradcam.png", "robustness.csv",
               "robustness.png"),
    "leukemia": ("ordinal_test.csv",),
    "all": ("ordinal_test.csv",),
    "blood": ("in_distribution.csv", "in_distribution.png", "embedding_map.png"),
    "marrow": ("lineage_test.csv", "lineage_confusion.png", "risk_coverage.csv", "risk_coverage.png",
               "matek_comparison.csv"),
}


AXIS_NAMES = {"blur": "Gaussian sigma (% of the side)", "jpeg": "JPEG quality", "noise": "noise sigma (grey levels)"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    plt = _plt()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png", metadata={"Software": None})
    plt.close(fig)


def per_class_table(m: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame([{"class": c, **v} for c, v in m["per_class"].items()])


# --- plots ----------------------------------------------------------------------------------------------------


def plot_reliability(before: pd.DataFrame, after: pd.DataFrame, ece: tuple[float, float], temperature: float,
                     path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect")
    for table, name, e in ((before, "raw", ece[0]), (after, f"T = {temperature:.2f}", ece[1])):
        used = table[table["n"] > 0]
        ax.plot(used["confidence"], used["accuracy"], "o-", label=f"{name} (ECE {e:.3f})")
    ax.set(xlabel="confidence (top-1 probability)", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1),
           title="reliability diagram (test split)")
    ax.grid(alpha=0.3)
    ax.legend()
    _save(fig, path)


def plot_gradcam(images: np.ndarray, cams: np.ndarray, titles: Sequence[str], path: Path) -> None:
    plt = _plt()
    n = len(images)
    cols = min(8, max(n, 1))
    rows = 2 * int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.7 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i in range(n):
        r, c = 2 * (i // cols), i % cols
        axes[r, c].imshow(images[i])
        axes[r, c].set_title(titles[i], fontsize=7)
        axes[r + 1, c].imshow(images[i])
        axes[r + 1, c].imshow(cams[i], cmap="jet", alpha=0.45, vmin=0, vmax=1)
    fig.suptitle("Grad-CAM of the predicted class (top: image, bottom: overlay); title true -> predicted",
                 fontsize=8)
    _save(fig, path)


def plot_lines(table: pd.DataFrame, x: str, y: str, by: str, path: Path, title: str, xlabel: str) -> None:
    plt = _plt()
    kinds = list(dict.fromkeys(table[by]))
    fig, axes = plt.subplots(1, len(kinds), figsize=(3.3 * len(kinds), 3.2), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        sub = table[table[by] == kind]
        ax.plot(range(len(sub)), sub[y], "o-")
        ax.set_xticks(range(len(sub)), [f"{v:g}" for v in sub[x]])
        ax.set(title=str(kind), xlabel=AXIS_NAMES.get(kind, xlabel), ylabel=y.replace("_", " "), ylim=(0, 1.02))
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=9)
    _save(fig, path)


# --- analyses -------------------------------------------------------------------------------------------------


def read_rgb(path: str) -> np.ndarray:
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    return np.ascontiguousarray(img[:, :, ::-1])


def resize(img: np.ndarray, size: int) -> np.ndarray:
    return img if img.shape[:2] == (size, size) else cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


def robustness(model: torch.nn.Module, cfg: TrainConfig, rows: pd.DataFrame, classes: Sequence[str],
               threads: int, seed: int) -> pd.DataFrame:
    """Accuracy and balanced accuracy per corruption level, applied at the file's own resolution."""
    originals = [read_rgb(p) for p in rows["path"]]
    truth = np.array([classes.index(c) for c in rows["label"]])
    out = []
    for kind, levels in LEVELS.items():
        for level in levels:
            rng = np.random.default_rng(seed)
            images = np.stack([resize(corrupt(im, kind, level, rng), cfg.image_size) for im in originals])
            proba, _ = predict(model, images, threads=threads)
            m = classification_metrics(truth, proba, classes)
            out.append({"corruption": kind, "level": level, "n": len(rows), "accuracy": m["accuracy"],
                        "balanced_accuracy": m["balanced_accuracy"]})
    return pd.DataFrame(out)


def in_distribution(model: torch.nn.Module, images: np.ndarray, threads: int, seed: int) -> tuple[pd.DataFrame, dict]:
    """Max softmax probability as the in-distribution score; AUROC of centred single cells vs each crop kind."""
    rng = np.random.default_rng(seed)
    picks = [rng.choice(len(images), 4, replace=len(images) < 4) for _ in range(len(images))]
    crops = {"off-centre": np.stack([off_centre(im, 0.4, i) for i, im in enumerate(images)]),
             "multi-cell": np.stack([multi_cell([images[j] for j in pick]) for pick in picks])}
    scores = {"centred": predict(model, images, threads=threads)[0].max(1)}
    rows = []
    for name, batch in crops.items():
        scores[name] = predict(model, batch, threads=threads)[0].max(1)
        auc = flag_auroc(np.concatenate([scores["centred"], scores[name]]),
                         np.r_[np.ones(len(images)), np.zeros(len(batch))])
        rows.append({"crop": name, "n_in": len(images), "n_out": len(batch), "auroc": auc,
                     "mean_score_in": float(scores["centred"].mean()), "mean_score_out": float(scores[name].mean())})
    return pd.DataFrame(rows), scores


def plot_scores(scores: dict[str, np.ndarray], table: pd.DataFrame, path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    bins = np.linspace(0, 1, 21)
    for name, s in scores.items():
        auc = table.loc[table["crop"] == name, "auroc"]
        label = name if auc.empty else f"{name} (AUROC {auc.iloc[0]:.3f})"
        ax.hist(s, bins=bins, alpha=0.5, label=label)
    ax.set(xlabel="in-distribution score (max softmax probability)", ylabel="images")
    ax.set_title("centred single cells vs crops the model never saw", fontsize=9)
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_embedding(train_emb: np.ndarray, emb: np.ndarray, labels: np.ndarray, classes: Sequence[str],
                   path: Path, knn: float) -> None:
    from sklearn.decomposition import PCA

    plt = _plt()
    pca = PCA(n_components=2, random_state=0).fit(train_emb)
    xy = pca.transform(emb)
    fig, ax = plt.subplots(figsize=(5, 4.5))
    for j, c in enumerate(classes):
        sel = labels == j
        ax.scatter(xy[sel, 0], xy[sel, 1], s=8, alpha=0.7, label=c)
    ax.set(xlabel="PC 1", ylabel="PC 2")
    ax.set_title(f"test-split embeddings, PCA fitted on train\n{len(emb)} images; kNN accuracy {knn:.3f}", fontsize=9)
    ax.legend(fontsize=8)
    _save(fig, path)


def pick_examples(labels: np.ndarray, k: int, per_class: int) -> np.ndarray:
    """Up to `per_class` of the first rows of each class, in class order."""
    picks = [np.flatnonzero(labels == j)[:per_class] for j in range(k)]
    return np.concatenate(picks) if picks else np.zeros(0, dtype=int)


# --- the report -------------------------------------------------------------------------------------------------


def build_report(spec: DatasetSpec, model: torch.nn.Module, cfg: TrainConfig, classes: Sequence[str],
                 index: pd.DataFrame, out: Path, threads: int = 2, knn_k: int = 5, n: int = 200, seed: int = 0,
                 data_hash: str = "") -> dict[str, Any]:
    """Write every report item for `spec.task` into `out`; returns the headline numbers."""
    classes = tuple(classes)
    k = len(classes)
    data = {}
    for split in ("train", "val", "test"):
        rows = index[index["split"] == split].sort_values("id")
        images = load_images(list(rows["path"]), cfg.image_size, threads, f"loading {split}")
        proba, emb = predict(model, images, threads=threads, with_embeddings=True)
        data[split] = (rows, images, proba, emb, np.array([classes.index(c) for c in rows["label"]], dtype=int))
    metrics: dict[str, Any] = {"task": spec.task, "dataset": spec.slug, "model": cfg.model,
                               "image_size": cfg.image_size, "pretrained": cfg.pretrained, "data_hash": data_hash,
                               "splits": {s: int(len(d[0])) for s, d in data.items()}}
    for split in ("val", "test"):
        rows, _, proba, emb, y = data[split]
        m = classification_metrics(y, proba, classes)
        m["knn_accuracy"] = knn_accuracy(data["train"][3], data["train"][4], emb, y, knn_k) if len(y) else None
        metrics[split] = m
        write_csv(out / f"per_class_{split}.csv", per_class_table(m))
        plot_confusion(m["confusion"], classes, out / f"confusion_{split}.png",
                       f"{spec.task} {split}: balanced accuracy {m['balanced_accuracy']:.3f}")
    rows, images, proba, emb, y = data["test"]
    pred = proba.argmax(1)
    table = pd.DataFrame({"id": rows["id"], "label": rows["label"], "predicted": [classes[i] for i in pred],
                          "confidence": proba.max(1), "entropy": entropy(proba)})
    write_csv(out / "predictions_test.csv", table)

    # calibration: temperature fitted on val, judged on test
    t = fit_temperature(data["val"][2], data["val"][4])
    scaled = scale_temperature(proba, t)
    before, after = reliability_bins(proba, y), reliability_bins(scaled, y)
    ece = (expected_calibration_error(proba, y), expected_calibration_error(scaled, y))
    write_csv(out / "reliability.csv", pd.concat([before.assign(calibration="raw"),
                                                  after.assign(calibration=f"temperature {t:.4f}")]))
    plot_reliability(before, after, ece, t, out / "reliability.png")
    metrics["calibration"] = {"temperature": t, "ece_test_raw": ece[0], "ece_test_scaled": ece[1],
                              "ece_val_raw": expected_calibration_error(data["val"][2], data["val"][4]),
                              "accuracy_unchanged": bool((scaled.argmax(1) == pred).all())}

    # Grad-CAM on a few test images per class
    pick = pick_examples(y, k, max(1, 16 // k))
    cams = grad_cam(model, images[pick]) if len(pick) else np.zeros((0,) + images.shape[1:3])
    plot_gradcam(images[pick], cams, [f"{classes[y[i]]} -> {classes[pred[i]]}" for i in pick], out / "gradcam.png")

    # robustness curves on (up to) n test images
    sub = rows.iloc[np.sort(np.random.default_rng(seed).permutation(len(rows))[:n])]
    rob = robustness(model, cfg, sub, classes, threads, seed)
    write_csv(out / "robustness.csv", rob)
    plot_lines(rob, "level", "balanced_accuracy", "corruption", out / "robustness.png",
               f"{spec.task}: balanced accuracy under corruption ({len(sub)} test images)", "level")
    metrics["robustness"] = rob.to_dict(orient="records")

    if spec.ordinal:
        o = ordinal_metrics(y, pred, k)
        o["stage_order"] = list(classes)
        metrics["ordinal"] = o
        write_csv(out / "ordinal_test.csv", pd.DataFrame(
            [{"stages": f"{classes[int(p.split('-')[0])]}-{classes[int(p.split('-')[1])]}", **v}
             for p, v in o["adjacent_confusion"].items()]))
    if spec.task == "blood":
        sel = np.sort(np.random.default_rng(seed).permutation(len(images))[:n])
        ind, scores = in_distribution(model, images[sel], threads, seed)
        write_csv(out / "in_distribution.csv", ind)
        plot_scores(scores, ind, out / "in_distribution.png")
        metrics["in_distribution"] = ind.to_dict(orient="records")
        plot_embedding(data["train"][3], emb, y, classes, out / "embedding_map.png", metrics["test"]["knn_accuracy"])
    if spec.task == "marrow":
        metrics.update(marrow_items(classes, proba, y, out))
    write_json_atomic(out / "metrics.json", metrics)
    print(f"{spec.task}: test accuracy {metrics['test']['accuracy']:.4f}, balanced accuracy "
          f"{metrics['test']['balanced_accuracy']:.4f}, ECE {ece[0]:.3f} -> {ece[1]:.3f} (T={t:.2f}); report in {out}")
    return {"test_accuracy": metrics["test"]["accuracy"],
            "test_balanced_accuracy": metrics["test"]["balanced_accuracy"],
            "val_balanced_accuracy": metrics["val"]["balanced_accuracy"], "ece_test_raw": ece[0]}


def marrow_items(classes: Sequence[str], proba: np.ndarray, y: np.ndarray, out: Path) -> dict[str, Any]:
    """Lineage grouping, NIF flagging, risk-coverage and the Matek 2021 comparison (test split)."""
    gp, groups = group_proba(proba, classes, MARROW_GROUPS)
    gy = np.array([groups.index(MARROW_GROUPS[classes[i]]) for i in y], dtype=int)
    lineage = classification_metrics(gy, gp, groups)
    write_csv(out / "lineage_test.csv", per_class_table(lineage))
    plot_confusion(lineage["confusion"], groups, out / "lineage_confusion.png",
                   f"lineage groups: accuracy {lineage['accuracy']:.3f}")
    conf, correct = proba.max(1), proba.argmax(1) == y
    coverage, risk = risk_coverage(conf, correct)
    marks = [c for c in (1.0, 0.9, 0.8, 0.7, 0.5, 0.3) if len(y)]
    rc = pd.DataFrame([{"coverage": c, "risk": float(risk[max(0, int(np.ceil(c * len(y))) - 1)])} for c in marks])
    write_csv(out / "risk_coverage.csv", rc)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3.8))
    ax.plot(coverage, risk, label=f"max probability (AURC {aurc(conf, correct):.3f})")
    ent_cov, ent_risk = risk_coverage(-entropy(proba), correct)
    ax.plot(ent_cov, ent_risk, label=f"entropy (AURC {aurc(-entropy(proba), correct):.3f})")
    ax.set(xlabel="coverage (share of cells the model answers)", ylabel="error rate among answered",
           title="selective prediction (marrow, test)", xlim=(0, 1), ylim=(0, 1))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, out / "risk_coverage.png")
    ours = classification_metrics(y, proba, classes)
    cmp = pd.DataFrame([{"class": c, "source_name": MARROW_CODES[c][0], "users_notes_name": MARROW_CODES[c][1],
                         "precision": ours["per_class"][c]["precision"], "recall": ours["per_class"][c]["recall"],
                         "support": ours["per_class"][c]["support"], "matek2021_precision": MATEK_2021[c][0],
                         "matek2021_recall": MATEK_2021[c][1]} for c in classes])
    write_csv(out / "matek_comparison.csv", cmp)
    nif = classes.index("NIF") if "NIF" in classes else None
    return {"lineage": {"groups": groups, "accuracy": lineage["accuracy"],
                        "balanced_accuracy": lineage["balanced_accuracy"], "confusion": lineage["confusion"]},
            "nif_flag_auroc_entropy": flag_auroc(entropy(proba), y == nif) if nif is not None else None,
            "selective": {"aurc_max_prob": aurc(conf, correct), "aurc_entropy": aurc(-entropy(proba), correct),
                          "risk_at": rc.to_dict(orient="records")},
            "matek2021_comparison": cmp.to_dict(orient="records"),
            "note": "trained from scratch on CPU at reduced resolution; Matek 2021 used 171k images and a ResNeXt"}
