"""The corpus runner itself: verdicts for passing, failing and crashing cases; the expectations' checks."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipeline.cli import main
from pipeline.core.badinput import Case, DiskFull, expect_cli_error, expect_error, one_line_naming, run_cases, summary
from pipeline.core.errors import PipelineError


def _raise(message: str) -> None:
    raise PipelineError(message, Path("/data/x.png"))


def test_verdicts_count_passing_failing_and_crashing_cases(tmp_path: Path) -> None:
    cases = [Case("good", "fine", lambda folder: None),
             Case("wrong", "fine", lambda folder: "it printed a traceback"),
             Case("crash", "fine", lambda folder: 1 / 0)]
    verdicts = run_cases(cases, tmp_path)
    assert [v.ok for v in verdicts] == [True, False, False]
    assert verdicts[2].observed.startswith("unexpected ZeroDivisionError")
    assert summary(verdicts) == "1/3 handled as specified (not: wrong, crash)"
    assert all((tmp_path / name).is_dir() for name in ("good", "wrong", "crash"))


def test_expectations_need_one_line_naming_everything() -> None:
    assert expect_error(lambda: _raise("truncated PNG"), "x.png", "truncated") is None
    assert "does not name" in expect_error(lambda: _raise("truncated PNG"), "y.png")
    assert expect_error(lambda: None, "x.png") == "no error raised"
    assert "2 lines" in one_line_naming("first\nsecond", "first")
    assert one_line_naming("  ", "x") == "empty error message"


def test_cli_expectation_sees_exit_code_and_stderr() -> None:
    assert expect_cli_error(main, ["nosuchtask", "stage0"], "nosuchtask") is None
    assert "does not name" in expect_cli_error(main, ["nosuchtask", "stage0"], "ecg-typo")


def test_disk_full_writes_partly_then_fails_and_is_undone(tmp_path: Path) -> None:
    target = tmp_path / "t.csv"
    original = pd.DataFrame.to_csv
    with DiskFull(pd.DataFrame, "to_csv"):
        try:
            pd.DataFrame({"a": [1]}).to_csv(target)
        except OSError as err:
            assert "No space left" in str(err)
        else:
            raise AssertionError("no error")
    assert target.read_bytes() == b"partial"
    assert pd.DataFrame.to_csv is original
