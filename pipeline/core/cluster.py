"""The Dask backend of `parallel.parallel_map`: per-item work on a Dask cluster, results in input order.

`scheduler` is a running scheduler's address (`tcp://host:8786`, started with `dask scheduler`, its
workers with `dask worker tcp://host:8786`) or `local`, which starts a `distributed.LocalCluster` of
`workers` processes on this machine for the duration of the map. Workers must see the same project
checkout, environment and data folders as the caller (a shared filesystem): they import the function
by its module and read and write files themselves.

Faults: a task whose worker dies is rescheduled by Dask; a task that raises is retried `retries` times.
An item that still fails raises as in the local pool, or becomes `on_error(item, error)` when given.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from tqdm import tqdm

T = TypeVar("T")
R = TypeVar("R")

SCHEDULER_ENV = "PIPELINE_SCHEDULER"
LOCAL = "local"
RETRIES = 1
"""Retries of a failing item: a task lost with its worker, or one that raised, is run once more."""
LOCAL_CLUSTER_CONFIG = {"distributed.scheduler.allowed-failures": 1, "distributed.scheduler.worker-saturation": 1.0}
"""A LocalCluster's scheduler gives up on an item (KilledWorker) once its worker died on it twice, and
hands each worker only the item it runs (so that items merely queued on a dying worker are not blamed).
For a standalone scheduler, export DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=1 and
DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION=1.0 (README)."""


def worker_died(error: BaseException) -> bool:
    """Whether an item failed because its worker process died under it (Dask's KilledWorker), not
    because its own code raised."""
    return type(error).__name__ == "KilledWorker"


def resolve_scheduler(scheduler: str | None) -> str | None:
    """The scheduler to use: the argument, else $PIPELINE_SCHEDULER, else None (the local process pool)."""
    value = scheduler if scheduler is not None else os.environ.get(SCHEDULER_ENV)
    return value.strip() or None if value else None


def add_scheduler_option(parser: argparse.ArgumentParser) -> None:
    """--scheduler, the same on every stage that sends per-item work to a cluster."""
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS|local",
                        help=f"run the per-item work on a Dask cluster: a scheduler address (tcp://host:8786) or "
                             f"'local' for a LocalCluster of --workers processes (default: ${SCHEDULER_ENV}, "
                             "else this machine's process pool)")


@contextlib.contextmanager
def dask_client(scheduler: str, workers: int) -> Iterator[Any]:
    """A `distributed.Client` connected to `scheduler` (or to a fresh LocalCluster when it is 'local')."""
    import dask  # deferred on purpose: heavy optional dependency, only for cluster runs
    import distributed

    with contextlib.ExitStack() as stack:
        if scheduler == LOCAL:
            stack.enter_context(dask.config.set(LOCAL_CLUSTER_CONFIG))
            cluster = stack.enter_context(distributed.LocalCluster(
                n_workers=max(1, workers), threads_per_worker=1, processes=True, dashboard_address=":0",
                silence_logs=40))
            client = stack.enter_context(distributed.Client(cluster))
        else:
            client = stack.enter_context(distributed.Client(scheduler))
        print(f"dask: {len(client.scheduler_info()['workers'])} worker(s) at {client.scheduler.address}, "
              f"dashboard {client.dashboard_link}", file=sys.stderr)
        yield client


def dask_map(fn: Callable[[T], R], items: Sequence[T], workers: int, desc: str, scheduler: str,
             on_error: Callable[[T, BaseException], R] | None = None, retries: int = RETRIES) -> list[R]:
    """fn over items on a Dask cluster with a tqdm bar; results in the order of items."""
    import distributed  # deferred on purpose: heavy optional dependency, only for cluster runs

    with dask_client(scheduler, workers) as client:
        futures = client.map(fn, list(items), retries=retries, pure=False)
        with tqdm(total=len(futures), desc=desc, unit="item", disable=len(items) < 2) as bar:
            for _ in distributed.as_completed(futures):
                bar.update(1)
        out: list[R] = []
        for item, future in zip(items, futures):
            try:
                out.append(future.result())
            except Exception as err:  # noqa: BLE001 - the item's own error, or the worker lost twice
                if on_error is None:
                    raise
                out.append(on_error(item, err))
        return out
