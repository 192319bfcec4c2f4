from pathlib import Path

import pytest

from pipeline.core.io import atomic_path, sha256_tree, write_text_atomic


def test_atomic_write_replaces_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "result.csv"
    write_text_atomic(target, "finished\n")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "finished\n"
    assert [p.name for p in tmp_path.iterdir()] == ["result.csv"]  # no temp file left behind


def test_tree_hash_sees_content_and_names(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("1")
    first = sha256_tree(tmp_path)
    (tmp_path / "a.txt").write_text("2")
    second = sha256_tree(tmp_path)
    (tmp_path / "a.txt").rename(tmp_path / "b.txt")
    assert len({first, second, sha256_tree(tmp_path)}) == 3
