"""Compiled loops (numba) for the parts of a batched step that numpy does slowly: many short rows.

``add_related`` and ``weighted_boosts`` do exactly what the numpy code they replaced did, in the same
order (the same floating-point sums), so trajectories are unchanged; ``distinct_draws`` samples the
candidates of many users at once (one user keeps ``Generator.choice``). Row loops run on every core for
large batches (``row_loops``). ``cache=True`` keeps the compiled code between processes; ``nogil=True``
lets other threads run meanwhile.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable

import numpy as np
from numba import njit, prange

PARALLEL_ROWS = 512  # from this many rows on, row loops run on every core (starting the threads costs ~10 us)


def row_loops(function: Callable) -> Callable:
    """``function``, whose outer loop is a ``prange`` over the rows of its first argument, compiled twice:
    a plain loop for few rows, numba's threads for ``PARALLEL_ROWS`` rows or more. Each row is computed
    on its own, so both give the same result."""
    serial = njit(cache=True, nogil=True)(function)
    threaded = njit(cache=True, nogil=True, parallel=True)(_renamed(function, "_threaded"))

    @functools.wraps(function)
    def run(*args: np.ndarray) -> np.ndarray:
        return (threaded if len(args[0]) >= PARALLEL_ROWS else serial)(*args)

    run.serial, run.threaded = serial, threaded
    return run


def _renamed(function: Callable, suffix: str) -> Callable:
    """A copy of ``function`` with another name: numba's cache files are named after the function."""
    copy = types.FunctionType(function.__code__, function.__globals__, function.__name__ + suffix)
    copy.__qualname__ = function.__qualname__ + suffix
    return copy


@njit(cache=True, nogil=True)
def distinct_draws(rng: np.random.Generator, num_items: int, size: int, rows: int, spare: int) -> np.ndarray:
    """``(rows, size)`` int64: each row a uniform random sample of distinct items of ``[0, num_items)``,
    in random order, by rejection: a row keeps its draws in order and skips repeats.

    Draws come from ``rng`` in blocks of ``size + spare`` per row (numba's generator gives numpy's
    stream); the few rows a block leaves short draw another block.
    """
    sample = np.empty((rows, size), dtype=np.int64)
    filled = np.zeros(rows, dtype=np.int64)
    seen = np.zeros(num_items, dtype=np.bool_)
    short = np.arange(rows)
    while len(short):
        block = rng.integers(0, num_items, (len(short), size + spare))
        still_short = np.empty(len(short), dtype=np.int64)
        count = 0
        for index, row in enumerate(short):
            kept = filled[row]
            for slot in range(kept):
                seen[sample[row, slot]] = True
            for item in block[index]:
                if kept == size:
                    break
                if not seen[item]:
                    seen[item] = True
                    sample[row, kept] = item
                    kept += 1
            for slot in range(kept):
                seen[sample[row, slot]] = False
            filled[row] = kept
            if kept < size:
                still_short[count] = row
                count += 1
        short = still_short[:count]
    return sample


@row_loops
def add_related(
    clicked: np.ndarray,
    history: np.ndarray,
    draws: np.ndarray,
    degree: np.ndarray,
    neighbours: np.ndarray,
    uniform: np.ndarray,
) -> np.ndarray:
    """Candidates ``(B, M)``: KG neighbours of each row's most recently clicked item first, then the
    items of ``uniform`` (distinct in each row) that are not among them, up to ``M``.

    Neighbour ``j`` of row ``b`` is ``neighbours[source, int(draws[b, j] * degree[source])]`` (kept once);
    rows with no click in ``clicked`` (``(B, H)``, the history's clicked column) have none.
    """
    batch, size = uniform.shape
    merged = np.empty((batch, size), dtype=np.int64)
    for row in prange(batch):
        source, count = 0, 0
        for slot in range(history.shape[1] - 1, -1, -1):
            if clicked[row, slot] > 0:
                source, count = history[row, slot], degree[history[row, slot]]
                break
        related = 0
        for draw in draws[row]:
            slot = np.int64(draw * count)
            if slot < count and not _holds(merged[row, :related], neighbours[source, slot]):
                merged[row, related] = neighbours[source, slot]
                related += 1
        filled = related
        for item in uniform[row]:
            if filled == size:
                break
            if not _holds(merged[row, :related], item):
                merged[row, filled] = item
                filled += 1
    return merged


@njit(cache=True, nogil=True)
def _holds(values: np.ndarray, item: int) -> bool:
    for value in values:
        if value == item:
            return True
    return False


@row_loops
def weighted_boosts(weights: np.ndarray, history: np.ndarray, items: np.ndarray, boosts: np.ndarray) -> np.ndarray:
    """``sum_h weights[b, h] * boosts[history[b, h], items[b, s]]``, ``(B, S)``, summed in order of ``h``;
    slots of weight 0 (unclicked or empty, ``history`` -1) add nothing and are skipped."""
    batch, length = history.shape
    total = np.zeros(items.shape)
    for row in prange(batch):
        for slot in range(length):
            weight = weights[row, slot]
            if weight == 0.0:
                continue
            boosted = boosts[history[row, slot]]
            for column in range(items.shape[1]):
                total[row, column] += weight * boosted[items[row, column]]
    return total
