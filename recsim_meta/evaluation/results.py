"""``results.csv`` written one finished run at a time, so a crash loses no finished run and a rerun skips them."""

from __future__ import annotations

import csv
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm


class ResultsFile:
    """A CSV of runs, appended and synced row by row.

    Args:
        path: the file (created with a header on the first row).
        columns: its columns, in order; a file with another header is refused.
        key: the columns that name a run (e.g. method, task, seed, budget).

    A row cut short by a crash (no final newline) is dropped when the file is opened.
    """

    def __init__(self, path: str | os.PathLike, columns: tuple[str, ...], key: tuple[str, ...]) -> None:
        missing = sorted(set(key) - set(columns))
        if missing:
            raise ValueError(f"key column(s) {missing} are not among the columns {columns}")
        self.path, self.columns, self.key = Path(path), tuple(columns), tuple(key)
        if self.path.exists():
            text = self.path.read_text()
            if text and not text.endswith("\n"):  # the last row was being written when the run stopped
                text = text[: text.rfind("\n") + 1]
                self.path.write_text(text)
            header = text.split("\n", 1)[0].split(",") if text else []
            if header and tuple(header) != self.columns:
                raise ValueError(f"{self.path} has the columns {header}, expected {list(self.columns)}")

    def rows(self) -> list[dict[str, str]]:
        if not self.path.exists():
            return []
        with open(self.path, newline="") as file:
            return list(csv.DictReader(file))

    def finished(self) -> set[tuple[str, ...]]:
        """Keys of the runs in the file, as strings."""
        return {tuple(row[k] for k in self.key) for row in self.rows()}

    def key_of(self, values: dict[str, Any]) -> tuple[str, ...]:
        return tuple(str(values[k]) for k in self.key)

    def append(self, row: dict[str, Any]) -> None:
        """Write ``row`` (all columns, nothing else) and sync it to disk."""
        if set(row) != set(self.columns):
            raise ValueError(f"a row needs exactly the columns {list(self.columns)}, got {sorted(row)}")
        new = not self.path.exists() or self.path.stat().st_size == 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=self.columns)
            if new:
                writer.writeheader()
            writer.writerow(row)
            file.flush()
            os.fsync(file.fileno())


BACKENDS = ("processes", "ray")


def parallel_map(
    function: Callable[[Any], Any],
    items: list[Any],
    workers: int = 1,
    progress: bool = False,
    desc: str | None = None,
    backend: str = "processes",
) -> Iterator[tuple[Any, Any]]:
    """``(item, function(item))`` pairs in order of completion.

    ``processes``: ``workers`` local processes (this process when 1), each with ``cpu_count // workers`` torch
    threads. ``ray`` (the optional extra ``pip install recsim_meta[ray]``): Ray tasks of one CPU each, on the
    cluster named by ``RAY_ADDRESS`` or else a local Ray with ``workers`` CPUs. The first error stops the rest.
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
            threads = max(1, (os.cpu_count() or 1) // workers)
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(
                workers, mp_context=context, initializer=_set_threads, initargs=(threads,)
            ) as pool:
                futures = {pool.submit(function, item): item for item in items}
                try:
                    for future in as_completed(futures):
                        yield futures[future], future.result()
                        bar.update()
                finally:
                    pool.shutdown(cancel_futures=True)


def _set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


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


def run_all(
    jobs: Iterable[dict[str, Any]],
    run: Callable[[dict[str, Any]], Any],
    results: ResultsFile | None = None,
    workers: int = 1,
    progress: bool = False,
    desc: str | None = None,
    backend: str = "processes",
) -> int:
    """Run every job whose key is not in ``results`` yet and append its row as it finishes; returns how many ran.

    A job is a dict with at least the key columns; ``run(job)`` returns the row's other columns. With
    ``results`` of ``None`` every job runs and what ``run`` returns is dropped. ``workers`` > 1 runs jobs in
    that many processes, or ``backend="ray"`` as Ray tasks (``run`` and the jobs must pickle); rows are still
    appended by this process alone.
    """
    done = results.finished() if results is not None else set()
    todo = [job for job in jobs if results is None or results.key_of(job) not in done]
    for job, row in parallel_map(run, todo, workers, progress, desc, backend):
        if results is not None:
            results.append({**{k: job[k] for k in results.key}, **row})
    return len(todo)
