"""Map a function over items in worker processes with a tqdm bar; results in input order.

Two backends, the same results: the local process pool (the default) and a Dask cluster
(`cluster.py`), chosen by `scheduler` or $PIPELINE_SCHEDULER. Items carry their own seeds, so what
an item gives does not depend on the backend, the worker count or the order of completion.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from tqdm import tqdm

from pipeline.core.cluster import dask_map, resolve_scheduler

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def parallel_map(fn: Callable[[T], R], items: Sequence[T], workers: int, desc: str,
                 scheduler: str | None = None, on_error: Callable[[T, BaseException], R] | None = None) -> list[R]:
    """fn over items; with workers > 1 in a process pool, or on the Dask `scheduler` (an address or
    'local'; None: $PIPELINE_SCHEDULER if set). Order of results = order of items. An item whose fn
    raises (on Dask: after one retry) stops the map, or gives on_error(item, error) when that is given
    (a module-level function: it travels to the pool's workers)."""
    address = resolve_scheduler(scheduler)
    if address is not None:
        return dask_map(fn, items, workers, desc, address, on_error=on_error)
    call = fn if on_error is None else _Guarded(fn, on_error)
    bar_args = dict(total=len(items), desc=desc, unit="item", disable=len(items) < 2)
    if workers <= 1 or len(items) < 2:
        return [call(x) for x in tqdm(items, **bar_args)]
    # forkserver, not fork: a worker forked from a process whose torch (OpenMP) threads already ran
    # hangs at its first torch call (the ECG segmenter runs in stage2's workers).
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("forkserver"))
    try:
        results: Iterable[R] = pool.map(call, items, chunksize=1)
        out = list(tqdm(results, **bar_args))
    except BaseException:
        # Interrupted (Ctrl-C, SIGTERM) or failed: drop the queued items instead of waiting for all of
        # them; items already running finish (their writes are atomic).
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return out


class _Guarded:
    """fn with its exceptions turned into on_error(item, error) (a class, so that it pickles)."""

    def __init__(self, fn: Callable, on_error: Callable) -> None:
        self.fn, self.on_error = fn, on_error

    def __call__(self, item):
        try:
            return self.fn(item)
        except Exception as err:  # noqa: BLE001 - handed to on_error, as on Dask
            return self.on_error(item, err)
