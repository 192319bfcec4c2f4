"""The cell tasks' bad-input corpus: image files, class folders, checkpoints, CircleFarmer folders.

Each case writes its input under a scratch folder and calls what the stages call (`read_resized`,
`load_images`, `train_classifier`, `load_checkpoint`, `save_checkpoint`, the CircleFarmer reader).
Image modes (grey, RGBA, 16-bit) must decode to the same 8-bit RGB as the plain RGB file.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from pipeline.core.badinput import Case, DiskFull, expect_error

SIZE = 32


def _picture(seed: int = 0, size: int = 48) -> np.ndarray:
    """A smooth BGR test picture (gradients and a disc): resizing keeps it well-defined."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    img = np.stack([x * 255 / size, y * 255 / size, np.full_like(x, 60.0 + 40 * seed)], axis=-1)
    cv2.circle(img, (size // 2, size // 2), size // 4, (30, 200, 90), -1)
    return img.round().astype(np.uint8)


def _jpeg(folder: Path, name: str = "cell.jpg") -> Path:
    path = folder / name
    cv2.imwrite(str(path), _picture(), [cv2.IMWRITE_JPEG_QUALITY, 95])
    return path


def _bad_file(make: Callable[[Path], Path], *names: str) -> Callable[[Path], str | None]:
    """read_resized and load_images on the file `make` writes: PipelineError naming it (and `names`)."""
    def check(folder: Path) -> str | None:
        from pipeline.cells.train import load_images, read_resized

        path = make(folder)
        problem = expect_error(lambda: read_resized(path, SIZE), path.name, *names)
        return problem or expect_error(lambda: load_images([path], SIZE, threads=1), path.name, *names)
    return check


def _truncated_jpeg(folder: Path) -> Path:
    path = _jpeg(folder)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def _garbled_jpeg(folder: Path) -> Path:
    """A JPEG whose header segments are overwritten (start and end markers intact)."""
    path = _jpeg(folder)
    data = bytearray(path.read_bytes())
    data[2:400] = bytes(np.random.default_rng(0).integers(0, 256, 398, dtype=np.uint8))
    path.write_bytes(bytes(data))
    return path


def _zero_byte_jpeg(folder: Path) -> Path:
    path = folder / "empty.jpg"
    path.write_bytes(b"")
    return path


def _text_as_png(folder: Path) -> Path:
    path = folder / "notes.png"
    path.write_text("this is not an image\n")
    return path


def _same_as_rgb(write: Callable[[Path, np.ndarray], None], grey: bool = False) -> Callable[[Path], str | None]:
    """A picture written in another mode must read like the plain 8-bit file (grey: like its grey version)."""
    def check(folder: Path) -> str | None:
        from pipeline.cells.train import read_resized

        picture = _picture()
        if grey:
            picture = cv2.cvtColor(cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        plain, other = folder / "plain.png", folder / "other.png"
        cv2.imwrite(str(plain), picture)
        write(other, picture)
        a, b = read_resized(plain, SIZE), read_resized(other, SIZE)
        if a.shape != b.shape or a.dtype != b.dtype:
            return f"read as {b.dtype} {b.shape}, the 8-bit RGB file as {a.dtype} {a.shape}"
        diff = int(np.abs(a.astype(int) - b.astype(int)).max())
        return None if diff <= 1 else f"pixels differ from the 8-bit RGB file by up to {diff} levels"
    return check


def _write_rgba(path: Path, bgr: np.ndarray) -> None:
    cv2.imwrite(str(path), cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA))


def _write_grey(path: Path, bgr: np.ndarray) -> None:
    cv2.imwrite(str(path), cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))


def _write_16bit(path: Path, bgr: np.ndarray) -> None:
    cv2.imwrite(str(path), bgr.astype(np.uint16) * 257)


def _write_16bit_grey(path: Path, bgr: np.ndarray) -> None:
    cv2.imwrite(str(path), cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257)


def _check_mixed_modes(folder: Path) -> str | None:
    """One load_images call over files of every mode gives one uint8 (N, S, S, 3) array."""
    from pipeline.cells.train import load_images

    paths = []
    for k, write in enumerate((_write_rgba, _write_grey, _write_16bit, _write_16bit_grey, cv2.imwrite)):
        path = folder / f"mode{k}.png"
        (write(path, _picture(k)) if write is not cv2.imwrite else cv2.imwrite(str(path), _picture(k)))
        paths.append(path)
    paths.append(_jpeg(folder))
    images = load_images(paths, SIZE, threads=2)
    if images.shape != (len(paths), SIZE, SIZE, 3) or images.dtype != np.uint8:
        return f"mixed modes loaded as {images.dtype} {images.shape}"
    return None


def _check_empty_class(folder: Path) -> str | None:
    """Class folders A, B, C with C empty: training must refuse with the empty class named."""
    from pipeline.cells.train import TrainConfig, train_classifier

    rows = []
    for label in ("A", "B", "C"):
        (folder / label).mkdir(parents=True, exist_ok=True)
    for k in range(8):
        for label in ("A", "B"):
            path = folder / label / f"{label}{k}.png"
            cv2.imwrite(str(path), _picture(k))
            rows.append({"path": str(path), "label": label, "split": "train" if k < 6 else "val"})
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    cfg = TrainConfig(model="test_byobnet", image_size=16, epochs=1, batch_size=4, threads=1)
    return expect_error(lambda: train_classifier(pd.DataFrame(rows), cfg, folder / "model", classes=classes,
                                                 progress=False), "'C'", "no images")


def _checkpoint(folder: Path) -> Path:
    """A real checkpoint of a tiny model (as stage1 writes it)."""
    from pipeline.cells.train import TrainConfig, create_model, save_checkpoint

    cfg = TrainConfig(model="test_byobnet", image_size=16, epochs=1, threads=1)
    path = folder / "checkpoint.pt"
    save_checkpoint(path, create_model(cfg, 2), cfg, ("a", "b"), "0" * 64, {})
    return path


def _bad_checkpoint(damage: Callable[[Path], None]) -> Callable[[Path], str | None]:
    def check(folder: Path) -> str | None:
        from pipeline.cells.train import load_checkpoint

        path = _checkpoint(folder)
        damage(path)
        with warnings.catch_warnings():  # torch warns about the garbage's pickle protocol before failing
            warnings.simplefilter("ignore", UserWarning)
            return expect_error(lambda: load_checkpoint(path), path.name, "checkpoint")
    return check


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])


def _garble(path: Path) -> None:
    path.write_bytes(b"\x80\x04not a checkpoint" * 50)


def _foreign(path: Path) -> None:
    import torch

    torch.save({"weights": torch.zeros(3)}, path)


def _check_checkpoint_disk_full(folder: Path) -> str | None:
    import torch

    from pipeline.cells.train import TrainConfig, create_model, save_checkpoint

    path = _checkpoint(folder)
    before = path.read_bytes()
    cfg = TrainConfig(model="test_byobnet", image_size=16, epochs=1, threads=1)
    with DiskFull(torch, "save"):
        problem = expect_error(lambda: save_checkpoint(path, create_model(cfg, 2), cfg, ("a", "b"), "1" * 64, {}),
                               path.name, "No space left")
    if problem:
        return problem
    if path.read_bytes() != before:
        return "the previous checkpoint was changed by the failed write"
    left = sorted(p.name for p in folder.iterdir() if p.name != path.name)
    return f"files left beside the checkpoint: {left}" if left else None


def _farmer_folder(folder: Path) -> Path:
    from pipeline.cells.circles.dataset import generate_folder
    from pipeline.cells.circles.generate import CircleConfig

    out = folder / "farmer"
    generate_folder(out, 3, 0, CircleConfig(size=64, radius_range=(6.0, 14.0)), progress=False)
    return out


def _check_farmer_bad_annotation(folder: Path) -> str | None:
    from pipeline.cells.circles.dataset import read_folder

    out = _farmer_folder(folder)
    victim = sorted(out.glob("*_annotations.json"))[1]
    victim.write_text(victim.read_text()[:50])
    return expect_error(lambda: read_folder(out), victim.name, "JSON")


def _check_farmer_truncated_image(folder: Path) -> str | None:
    from pipeline.cells.circles.farmer_format import read_image

    out = _farmer_folder(folder)
    victim = sorted(out.glob("*.png"))[0]
    victim.write_bytes(victim.read_bytes()[:200])
    return expect_error(lambda: read_image(victim), victim.name, "truncated")


def cases() -> list[Case]:
    error = "read_resized and load_images raise one line naming the file"
    same = "decodes to the same 8-bit RGB as the plain file (within 1 level)"
    bad_ckpt = "load_checkpoint raises one line naming checkpoint.pt"
    return [
        Case("cells_jpeg_truncated", error, _bad_file(_truncated_jpeg, "truncated")),
        Case("cells_jpeg_garbled_header", error, _bad_file(_garbled_jpeg, "image")),
        Case("cells_jpeg_zero_bytes", error, _bad_file(_zero_byte_jpeg, "empty")),
        Case("cells_not_an_image", error, _bad_file(_text_as_png, "image")),
        Case("cells_mode_rgba", same, _same_as_rgb(_write_rgba)),
        Case("cells_mode_grey", same, _same_as_rgb(_write_grey, grey=True)),
        Case("cells_mode_16bit", same, _same_as_rgb(_write_16bit)),
        Case("cells_mode_16bit_grey", same, _same_as_rgb(_write_16bit_grey, grey=True)),
        Case("cells_mixed_modes", "load_images over RGBA, grey, 16-bit, RGB and JPEG files gives uint8 (N,S,S,3)",
             _check_mixed_modes),
        Case("cells_empty_class_folder", "train_classifier refuses with one line naming the empty class",
             _check_empty_class),
        Case("checkpoint_truncated", bad_ckpt, _bad_checkpoint(_truncate)),
        Case("checkpoint_garbage", bad_ckpt, _bad_checkpoint(_garble)),
        Case("checkpoint_foreign", bad_ckpt, _bad_checkpoint(_foreign)),
        Case("checkpoint_disk_full", "save_checkpoint raises one line naming checkpoint.pt; the previous one is "
             "kept, no temp file left", _check_checkpoint_disk_full),
        Case("circles_annotation_truncated", "read_folder raises one line naming the annotation JSON",
             _check_farmer_bad_annotation),
        Case("circles_image_truncated", "the CircleFarmer image reader raises one line naming the PNG",
             _check_farmer_truncated_image),
    ]
