"""One exception type for bad input: the CLI prints its message as a single line and exits non-zero."""

from __future__ import annotations

from pathlib import Path


class PipelineError(Exception):
    """A user-facing failure: bad input file, missing data, unknown task.

    The message names the file (when there is one) and the problem, on one line.
    """

    def __init__(self, problem: str, path: str | Path | None = None) -> None:
        self.path = None if path is None else Path(path)
        self.problem = " ".join(str(problem).split())
        super().__init__(f"{self.path}: {self.problem}" if self.path else self.problem)
