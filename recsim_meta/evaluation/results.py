"""``results.csv`` written one finished run at a time, so a crash loses no finished run and a rerun skips them."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from recsim_meta.atomic_files import atomic_file
from recsim_meta.evaluation.parallel import parallel_map


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
                with atomic_file(self.path) as file:  # a crash here must not lose the finished rows
                    file.write(text)
            header = text.split("\n", 1)[0].split(",") if text else []
            if header and tuple(header) != self.columns:
                raise ValueError(f"{self.path} has the columns {header}, expected {list(self.columns)}")

    def rows(self) -> list[dict[str, str]]:
        return read_rows(self.path) if self.path.exists() else []

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


def read_rows(path: str | os.PathLike) -> list[dict[str, str]]:
    """The rows of the CSV ``path`` as dicts of strings; ``ValueError`` naming the first line whose number of
    values differs from the header's, and how to repair it."""
    with open(path, newline="") as file:
        reader = csv.DictReader(file)
        rows = list(reader)
    for number, row in enumerate(rows, start=2):
        if None in row or None in row.values():
            values = sum(v is not None for k, v in row.items() if k is not None) + len(row.get(None, []))
            raise ValueError(
                f"{path}, line {number}: {values} values where the header "
                f"has {len(reader.fieldnames)} columns; delete that line (its run is done again by the next run of "
                "the same command)"
            )
    return rows


def run_all(
    jobs: Iterable[dict[str, Any]],
    run: Callable[[dict[str, Any]], dict[str, Any]],
    results: ResultsFile,
    workers: int = 1,
    progress: bool = False,
    desc: str | None = None,
    backend: str = "processes",
    threads: int | None = None,
) -> int:
    """Run every job whose key is not in ``results`` yet and append its row as it finishes; returns how many ran.

    A job is a dict with at least the key columns; ``run(job)`` returns the row's other columns. ``workers``,
    ``backend`` and ``threads`` as in ``parallel_map`` (then ``run`` and the jobs must pickle); rows are appended by this
    process alone.
    """
    done = results.finished()
    todo = [job for job in jobs if results.key_of(job) not in done]
    for job, row in parallel_map(run, todo, workers, progress, desc, backend, threads):
        results.append({**{k: job[k] for k in results.key}, **row})
    return len(todo)
