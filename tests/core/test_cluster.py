"""The Dask backend of parallel_map: same results in the same order as the local pool, a killed
worker costs a retry and not the run, an item failing twice goes to on_error."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from pipeline.core.cluster import LOCAL, SCHEDULER_ENV, dask_client, dask_map, resolve_scheduler
from pipeline.core.parallel import parallel_map

pytestmark = pytest.mark.slow  # starts LocalClusters: `make test-fast` leaves it out


def square(x: int) -> int:
    return x * x


def slow_square(x: int) -> int:
    time.sleep(0.3)
    return x * x


def fails_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("three")
    return x


def negative(item: int, error: BaseException) -> int:
    return -item


def dies_on_two(x: int) -> int:
    if x == 2:
        os._exit(1)  # the worker process dies under this item, every time
    return x


def died(item: int, error: BaseException) -> str:
    from pipeline.core.cluster import worker_died

    return f"died {item}" if worker_died(error) else f"raised {item}"


def test_resolve_scheduler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    assert resolve_scheduler(None) is None
    monkeypatch.setenv(SCHEDULER_ENV, "tcp://10.0.0.1:8786")
    assert resolve_scheduler(None) == "tcp://10.0.0.1:8786"
    assert resolve_scheduler("local") == "local"
    monkeypatch.setenv(SCHEDULER_ENV, " ")
    assert resolve_scheduler(None) is None


def test_dask_map_matches_the_pool_in_input_order() -> None:
    items = list(range(12))
    assert parallel_map(square, items, 2, "sq", scheduler=LOCAL) == parallel_map(square, items, 2, "sq")


def test_failing_item_raises_or_goes_to_on_error() -> None:
    with pytest.raises(ValueError, match="three"):
        parallel_map(fails_on_three, list(range(5)), 2, "f", scheduler=LOCAL)
    got = parallel_map(fails_on_three, list(range(5)), 2, "f", scheduler=LOCAL, on_error=negative)
    assert got == [0, 1, 2, -3, 4]
    assert parallel_map(fails_on_three, list(range(5)), 2, "f", on_error=negative) == got


def test_a_killed_worker_costs_a_retry_not_the_run() -> None:
    items = list(range(16))
    with dask_client(LOCAL, 2) as client:
        pids = sorted(client.run(os.getpid).values())
        assert len(pids) == 2

        def kill_one() -> None:
            time.sleep(1.0)
            os.kill(pids[0], signal.SIGKILL)

        killer = threading.Thread(target=kill_one)
        killer.start()
        futures = client.map(slow_square, items, retries=1, pure=False)
        results = client.gather(futures)
        killer.join()
        assert results == [x * x for x in items]
        assert pids[0] not in client.run(os.getpid).values()  # the nanny started a new worker


def test_dask_map_on_an_address(monkeypatch: pytest.MonkeyPatch) -> None:
    """A running scheduler (here a LocalCluster's) is used by its address, from the environment too."""
    import distributed

    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=":0") as cluster:
        monkeypatch.setenv(SCHEDULER_ENV, cluster.scheduler_address)
        assert parallel_map(square, [1, 2, 3], 1, "sq") == [1, 4, 9]
        assert dask_map(square, [4], 1, "sq", cluster.scheduler_address) == [16]


def test_an_item_that_kills_its_worker_twice_goes_to_on_error() -> None:
    got = parallel_map(dies_on_two, [0, 1, 2, 3], 2, "die", scheduler=LOCAL, on_error=died)
    assert got == [0, 1, "died 2", 3]
