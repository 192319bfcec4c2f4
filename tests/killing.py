"""Helpers of the kill tests: run `python -m pipeline ...` as a child process and stop it at a given time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from pipeline.core.io import is_temp
from pipeline.core.paths import PROJECT_ROOT


def _popen(argv: Sequence[str], env: Mapping[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipeline", *argv], cwd=PROJECT_ROOT,
                            env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


def run_to_end(argv: Sequence[str], env: Mapping[str, str], timeout: float = 300) -> float:
    """Run to completion (asserting exit 0); returns the wall time in seconds."""
    start = time.perf_counter()
    proc = _popen(argv, env)
    _, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-2000:]
    return time.perf_counter() - start


def rerun_here(argv: Sequence[str], env: Mapping[str, str]) -> None:
    """The rerun after a kill, in this process (no second interpreter start-up): must exit 0."""
    from pipeline.cli import main
    from pipeline.core.badinput import set_env

    with set_env(env):
        assert main(list(argv)) == 0


def kill_after(argv: Sequence[str], env: Mapping[str, str], delay: float, sig: int,
               tries: int = 4) -> tuple[int, float]:
    """Start the command and send `sig` after `delay` s; if it finished first, retry with half the delay.
    Returns (exit code, the delay that hit a running process)."""
    for _ in range(tries):
        proc = _popen(argv, env)
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=120)
            return proc.returncode, delay
        proc.communicate()
        delay /= 2
    raise AssertionError(f"the command always finished before {delay:.2f} s; cannot interrupt it")


def kill_when(argv: Sequence[str], env: Mapping[str, str], appears: Path, sig: int, timeout: float = 300) -> int:
    """Start the command and send `sig` as soon as the file `appears` exists (polled every 5 ms): a point
    between a stage's writes. Returns the exit code."""
    proc = _popen(argv, env)
    start = time.perf_counter()
    while not appears.exists():
        assert proc.poll() is None, f"finished before {appears} appeared"
        assert time.perf_counter() - start < timeout, f"{appears} did not appear"
        time.sleep(0.005)
    proc.send_signal(sig)
    proc.communicate(timeout=120)
    return proc.returncode


def visible_files(root: Path) -> dict[str, Path]:
    """Files under root by relative path, without the temp files of interrupted atomic writes."""
    return {p.relative_to(root).as_posix(): p for p in root.rglob("*") if p.is_file() and not is_temp(p)}


EXIT_CODES = {signal.SIGTERM: {143, -signal.SIGTERM}, signal.SIGKILL: {-signal.SIGKILL}}
"""SIGTERM: 143 from the CLI's handler (-15 if it came before the handler was installed)."""
