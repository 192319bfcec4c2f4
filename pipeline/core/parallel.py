"""Map a function over items in worker processes with a tqdm bar; results in input order."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def parallel_map(fn: Callable[[T], R], items: Sequence[T], workers: int, desc: str) -> list[R]:
    """fn over items; with workers > 1 in a process pool. Order of results = order of items."""
    bar_args = dict(total=len(items), desc=desc, unit="item", disable=len(items) < 2)
    if workers <= 1 or len(items) < 2:
        return [fn(x) for x in tqdm(items, **bar_args)]
    # forkserver, not fork: a worker forked from a process whose torch (OpenMP) threads already ran
    # hangs at its first torch call (the ECG segmenter runs in stage2's workers).
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("forkserver"))
    try:
        results: Iterable[R] = pool.map(fn, items, chunksize=1)
        out = list(tqdm(results, **bar_args))
    except BaseException:
        # Interrupted (Ctrl-C, SIGTERM) or failed: drop the queued items instead of waiting for all of
        # them; items already running finish (their writes are atomic).
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return out
