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


def test_failed_write_is_one_line_error_naming_the_file(tmp_path: Path) -> None:
    import errno

    from pipeline.core.errors import PipelineError

    target = tmp_path / "result.csv"
    write_text_atomic(target, "finished\n")
    with pytest.raises(PipelineError, match=r"result\.csv: cannot write \(No space left on device\)"):
        with atomic_path(target) as tmp:
            tmp.write_text("part")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert target.read_text() == "finished\n"
    assert [p.name for p in tmp_path.iterdir()] == ["result.csv"]
    with pytest.raises(PipelineError, match="cannot write"):
        write_text_atomic(target / "below_a_file.txt", "x")  # its folder cannot be made
