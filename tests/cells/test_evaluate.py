from pathlib import Path

import numpy as np
import pytest
import timm
import torch

from pipeline.cells.evaluate import classification_metrics, knn_accuracy, plot_confusion, predict


def test_metrics_by_hand() -> None:
    y = np.array([0, 0, 1, 1, 2])
    proba = np.eye(3)[[0, 1, 1, 1, 2]] * 0.9 + 0.1 / 3
    m = classification_metrics(y, proba, ["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(0.8)
    assert m["per_class"]["a"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert m["per_class"]["b"]["precision"] == pytest.approx(2 / 3)
    assert m["balanced_accuracy"] == pytest.approx((0.5 + 1 + 1) / 3)
    assert m["confusion"] == [[1, 1, 0], [0, 2, 0], [0, 0, 1]]
    assert m["log_loss"] > 0


def test_absent_class_does_not_count_in_balanced_accuracy() -> None:
    m = classification_metrics(np.array([0, 0]), np.array([[0.9, 0.1], [0.8, 0.2]]), ["a", "b"])
    assert m["balanced_accuracy"] == 1.0 and m["per_class"]["b"]["support"] == 0


def test_knn_on_separated_clusters() -> None:
    rng = np.random.default_rng(0)
    centres = np.eye(4)[:3] * 10
    y = np.repeat(np.arange(3), 20)
    x = centres[y] + rng.normal(0, 0.5, (60, 4))
    assert knn_accuracy(x[::2], y[::2], x[1::2], y[1::2], k=3) == 1.0


def test_predict_probabilities_and_embeddings() -> None:
    model = timm.create_model("test_efficientnet", pretrained=False, num_classes=3)
    images = np.random.default_rng(0).integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    proba, emb = predict(model, images, batch_size=2, threads=1, with_embeddings=True)
    assert proba.shape == (5, 3) and np.allclose(proba.sum(1), 1)
    assert emb.shape[0] == 5 and emb.ndim == 2
    again, none = predict(model, images, threads=1)
    np.testing.assert_allclose(again, proba, rtol=1e-6)
    assert none is None


def test_confusion_plot(tmp_path: Path) -> None:
    plot_confusion([[3, 1], [0, 4]], ["x", "y"], tmp_path / "cm.png")
    assert (tmp_path / "cm.png").read_bytes()[:4] == b"\x89PNG"


def test_tta_views_are_the_eight_symmetries() -> None:
    from pipeline.cells.evaluate import dihedral_views

    x = torch.arange(9, dtype=torch.float32).reshape(1, 1, 3, 3)
    views = {tuple(v.flatten().tolist()) for v in dihedral_views(x)}
    assert len(views) == 8
    model = timm.create_model("test_efficientnet", pretrained=False, num_classes=2)
    images = np.random.default_rng(1).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    proba, _ = predict(model, images, threads=1, tta=True)
    assert proba.shape == (3, 2) and np.allclose(proba.sum(1), 1)
