from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from pipeline.cells.train import (
    ImageSet,
    TrainConfig,
    augment_batch,
    balanced_weights,
    data_hash,
    load_checkpoint,
    load_images,
    train_classifier,
    train_model,
)
from pipeline.core.errors import PipelineError

TINY = TrainConfig(model="test_efficientnet", image_size=16, epochs=6, batch_size=16, lr=5e-3, patience=5,
                   threads=1)


def _toy(n: int, seed: int) -> ImageSet:
    """Two trivially separable classes: reddish vs bluish noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    images = rng.integers(0, 80, (n, 16, 16, 3)).astype(np.uint8)
    images[labels == 0, :, :, 0] += 150
    images[labels == 1, :, :, 2] += 150
    return ImageSet(images, labels.astype(np.int64))


def _params(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.state_dict().values() if p.is_floating_point()])


def test_training_is_deterministic_and_learns() -> None:
    train, val = _toy(64, 0), _toy(32, 1)
    m1, hist1, met1 = train_model(train, val, ("red", "blue"), TINY, progress=False)
    m2, hist2, _ = train_model(train, val, ("red", "blue"), TINY, progress=False)
    assert torch.equal(_params(m1), _params(m2))
    pd.testing.assert_frame_equal(hist1.drop(columns="seconds"), hist2.drop(columns="seconds"))
    assert met1["val_acc"] >= 0.9 and met1["best_epoch"] >= 1
    assert torch.get_num_threads() >= 1 and not torch.are_deterministic_algorithms_enabled()  # restored


def test_early_stopping_keeps_the_best_epoch() -> None:
    cfg = TrainConfig(**{**TINY.__dict__, "epochs": 8, "patience": 1, "lr": 0.5})  # diverges, stops early
    _, hist, met = train_model(_toy(32, 0), _toy(16, 1), ("red", "blue"), cfg, progress=False)
    assert met["epochs_run"] == len(hist)
    assert met["val_loss"] == pytest.approx(hist["val_loss"].min())
    assert met["best_epoch"] == int(hist.loc[hist["val_loss"].idxmin(), "epoch"])


def test_train_classifier_writes_a_reloadable_model_folder(tmp_path: Path) -> None:
    rows = []
    for split, ds, n in (("train", _toy(48, 0), 48), ("val", _toy(16, 1), 16)):
        for i in range(n):
            p = tmp_path / f"{split}_{i}.png"
            cv2.imwrite(str(p), ds.images[i][:, :, ::-1])
            rows.append({"path": str(p), "label": ["red", "blue"][ds.labels[i]], "split": split})
    index = pd.DataFrame(rows)
    out = tmp_path / "model"
    result = train_classifier(index, TINY, out, classes=("red", "blue"), progress=False)
    assert {p.name for p in out.iterdir()} == {"checkpoint.pt", "history.csv", "training_curve.png", "metrics.json"}
    model, cfg, classes, ckpt = load_checkpoint(out / "checkpoint.pt")
    assert classes == ("red", "blue") and cfg == TINY and ckpt["data_hash"] == result.metrics["data_hash"]
    x = torch.zeros(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(model(x), result.model.eval()(x))


def test_data_hash_sees_pixels_and_labels() -> None:
    a = _toy(8, 0)
    b = ImageSet(a.images.copy(), a.labels.copy())
    assert data_hash(a, classes=("x", "y")) == data_hash(b, classes=("x", "y"))
    b.images[0, 0, 0, 0] ^= 1
    assert data_hash(a, classes=("x", "y")) != data_hash(b, classes=("x", "y"))


def test_augment_preserves_pixels_and_is_seeded() -> None:
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    a = augment_batch(x, "dihedral", torch.Generator().manual_seed(0))
    b = augment_batch(x, "dihedral", torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    assert torch.equal(a.flatten(1).sort(1).values, x.flatten(1).sort(1).values)
    assert torch.equal(augment_batch(x, "none", torch.Generator()), x)


def test_balanced_weights() -> None:
    w = balanced_weights(np.array([0, 0, 0, 1]), 3)
    np.testing.assert_allclose(w, [4 / 9, 4 / 3, 0.0])


def test_bad_inputs_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="augment"):
        TrainConfig(augment="mixup")
    with pytest.raises(PipelineError, match="lacks the columns"):
        train_classifier(pd.DataFrame({"path": []}), TINY, tmp_path)
    (tmp_path / "bad.png").write_bytes(b"nope")
    with pytest.raises(PipelineError, match=r"bad\.png: not a readable image"):
        load_images([tmp_path / "bad.png"], 16)
    with pytest.raises(PipelineError, match="cannot create timm model"):
        train_model(_toy(4, 0), _toy(4, 1), ("a", "b"), TrainConfig(model="no_such_net", threads=1), progress=False)
