"""Run a function over items in worker processes or as Ray tasks, yielding results as they finish."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from tqdm.auto import tqdm

from recsim_meta.threads import set_threads

BACKENDS = ("processes", "ray")


def parallel_map(
    function: Callable[[Any], Any],
    items: list[Any],
    workers: int = 1,
    progress: bool = False,
    desc: str | None = None,
    backend: str = "processes",
    threads: int | None = None,
) -> Iterator[tuple[Any, Any]]:
    """``(item, function(item))`` pairs in order of completion.

    ``processes``: ``workers`` local processes (this process when 1), each with ``threads`` torch and numba
    threads (default ``cpu_count // workers``), which exits when this process dies. ``ray`` (the optional extra ``pip install
    recsim_meta[ray]``): Ray tasks of one CPU each, on the cluster named by ``RAY_ADDRESS`` or else a local Ray
    with ``workers`` CPUs. The first error stops the rest.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; accepted: {', '.join(BACKENDS)}")
    with tqdm(total=len(items), desc=desc, disable=not progress) as bar:
        if backend == "ray":
            yield from _ray_map(function, items, workers, bar)
        elif workers == 1:
            for item in items:
                yield item, function(item)
                bar.update()
        else:
            threads = threads or max(1, (os.cpu_count() or 1) // workers)
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(
                workers, mp_context=context, initializer=_start_worker, initargs=(threads, os.getpid())
            ) as pool:
                futures = {pool.submit(function, item): item for item in items}
                try:
                    for future in as_completed(futures):
                        yield futures[future], future.result()
                        bar.update()
                finally:
                    pool.shutdown(cancel_futures=True)


def _start_worker(threads: int, parent: int) -> None:
    """A worker's set-up: its threads for torch and numba (workers that each start a thread per core oversubscribe
    them, which costs several times the time) and a watch on its parent, so that it exits when the
    parent dies (a kill, SIGTERM, a crash), rather than live on under PID 1 with the memory it holds; a lock it
    held (``fcntl.flock``) is released with it."""
    set_threads(threads)
    threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True, name="parent-watch").start()


def _exit_when_orphaned(parent: int, interval: float = 0.5) -> None:
    while os.getppid() == parent:
        time.sleep(interval)
    os._exit(1)


def _ray_map(function: Callable[[Any], Any], items: list[Any], workers: int, bar: tqdm) -> Iterator[tuple[Any, Any]]:
    try:
        import ray
    except ImportError:
        raise ValueError("the ray backend needs Ray: pip install 'recsim_meta[ray]'") from None
    if not ray.is_initialized():
        ray.init(**({} if os.environ.get("RAY_ADDRESS") else {"num_cpus": workers}), log_to_driver=False)
    remote = ray.remote(num_cpus=1)(function)
    pending = {remote.remote(item): item for item in items}
    try:
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            yield pending.pop(ref), ray.get(ref)
            bar.update()
    finally:
        for ref in pending:
            ray.cancel(ref)
