"""A corpus of bad inputs, each with its expected behaviour, shared by the tests and `make bench`.

A `Case` builds its bad input under a scratch folder, feeds it to the code a user would run and returns
None when the outcome is the specified one, else a line saying what happened instead. `run_cases`
turns every case into a `Verdict` (an unexpected exception is a verdict too, never a crash), so the
bench can count how many bad inputs were tried and how many were handled as specified.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import tempfile
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.errors import PipelineError


@dataclass(frozen=True)
class Case:
    """One bad input. `check(folder)` returns None if handled as specified, else what went wrong."""

    name: str
    expected: str
    check: Callable[[Path], str | None]


@dataclass(frozen=True)
class Verdict:
    name: str
    expected: str
    ok: bool
    observed: str


def run_case(case: Case, folder: Path) -> Verdict:
    folder.mkdir(parents=True, exist_ok=True)
    try:
        problem = case.check(folder)
    except Exception as err:  # an unhandled exception is exactly what the corpus looks for
        last = traceback.format_exception_only(type(err), err)[-1].strip()
        problem = f"unexpected {last}"
    return Verdict(case.name, case.expected, problem is None, "as specified" if problem is None else problem)


def run_cases(cases: Sequence[Case], root: Path | None = None) -> list[Verdict]:
    """Every case in its own subfolder of `root` (a temp folder, removed afterwards, when None)."""
    with contextlib.ExitStack() as stack:
        if root is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="badinput-")))
        return [run_case(c, root / c.name) for c in cases]


def summary(verdicts: Sequence[Verdict]) -> str:
    ok = sum(v.ok for v in verdicts)
    line = f"{ok}/{len(verdicts)} handled as specified"
    bad = [v.name for v in verdicts if not v.ok]
    return line + (f" (not: {', '.join(bad)})" if bad else "")


# --- expectations ---------------------------------------------------------------------------------------


def robustness_row(cases: Sequence[Case], source: str) -> tuple[str, str, str]:
    """A bench row: how many of a task's bad-input cases were tried and how many handled as specified
    (every miss printed with what was expected and observed)."""
    verdicts = run_cases(cases)
    for v in verdicts:
        if not v.ok:
            print(f"bad input {v.name}: expected {v.expected}; observed {v.observed}")
    return ("robustness: bad inputs", summary(verdicts), f"{len(verdicts)} tried ({source})")


def one_line_naming(message: str, *names: str) -> str | None:
    """None if `message` is one non-empty line containing every name, else what is wrong with it."""
    text = message.strip()
    if not text:
        return "empty error message"
    if "\n" in text:
        return f"error spans {len(text.splitlines())} lines: {text.splitlines()[0]!r}..."
    missing = [n for n in names if n not in text]
    if missing:
        return f"error {text!r} does not name {', '.join(missing)}"
    return None


def expect_error(call: Callable[[], object], *names: str) -> str | None:
    """`call()` must raise PipelineError with a one-line message naming every name."""
    try:
        call()
    except PipelineError as err:
        return one_line_naming(str(err), *names)
    return "no error raised"


@dataclass(frozen=True)
class CliRun:
    code: int
    out: str
    err: str


def run_cli(main: Callable[[list[str]], int], argv: Sequence[str], env: Mapping[str, str] | None = None) -> CliRun:
    """`main(ARGV)` (the CLI's entry, `pipeline.cli.main`, passed in: core sits below the CLI) in this
    process, stdout and stderr captured, with `env` set meanwhile."""
    out, err = io.StringIO(), io.StringIO()
    with set_env(env or {}), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return CliRun(code, out.getvalue(), err.getvalue())


def expect_cli_error(main: Callable[[list[str]], int], argv: Sequence[str], *names: str,
                     env: Mapping[str, str] | None = None) -> str | None:
    """The CLI (`main`, see run_cli) must exit 1 with exactly one stderr line ('error: ...') naming every name."""
    run = run_cli(main, argv, env)
    if run.code != 1:
        return f"exit code {run.code}, expected 1 (stderr: {run.err.strip()[-200:]!r})"
    lines = [line for line in run.err.splitlines() if line.strip() and "%|" not in line]  # tqdm bars aside
    if len(lines) != 1 or not lines[0].startswith("error: "):
        return f"stderr is not one 'error:' line: {lines[:3]!r}"
    return one_line_naming(lines[0], *names)


@contextlib.contextmanager
def set_env(values: Mapping[str, str]) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def roots_env(folder: Path) -> dict[str, str]:
    """PIPELINE_DATA / WORK / SUBMISSIONS under `folder`, so a case never touches the user's data."""
    return {"PIPELINE_DATA": str(folder / "data"), "PIPELINE_WORK": str(folder / "work"),
            "PIPELINE_SUBMISSIONS": str(folder / "subs")}


class DiskFull:
    """Patch `target.attr` (a writer such as pandas.DataFrame.to_csv) to write a little, then fail
    with ENOSPC, as a full disk does mid-write."""

    def __init__(self, target: object, attr: str) -> None:
        self.target, self.attr = target, attr

    def __enter__(self) -> DiskFull:
        self.original = getattr(self.target, self.attr)

        def failing(obj: object, path: object = None, *args: object, **kwargs: object) -> None:
            if isinstance(path, (str, os.PathLike)):
                with open(path, "wb") as f:
                    f.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")

        setattr(self.target, self.attr, failing)
        return self

    def __exit__(self, *exc: object) -> None:
        setattr(self.target, self.attr, self.original)
