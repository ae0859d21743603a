"""Compiled loops (numba) for the parts of a batched step that numpy does slowly: many short rows.

``merge_candidates`` and ``weighted_boosts`` do exactly what the numpy code they replaced did, in the same
order (the same floating-point sums), so trajectories are unchanged; ``distinct_draws`` samples the
candidates of many users at once (one user keeps ``Generator.choice``). ``cache=True`` keeps the compiled
code between processes; ``nogil=True`` lets other threads run meanwhile.
"""

from __future__ import annotations

import numpy as np
from numba import njit


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


@njit(cache=True, nogil=True)
def merge_candidates(related: np.ndarray, uniform: np.ndarray, num_items: int) -> np.ndarray:
    """Per row: the distinct items of ``related`` (``-1``: none) in order, then the items of ``uniform``
    (distinct in each row) that are not among them, up to ``uniform``'s width."""
    batch, size = uniform.shape
    merged = np.empty((batch, size), dtype=np.int64)
    seen = np.zeros(num_items, dtype=np.bool_)
    for row in range(batch):
        count = 0
        for item in related[row]:
            if item >= 0 and not seen[item]:
                seen[item] = True
                merged[row, count] = item
                count += 1
        for item in uniform[row]:
            if count == size:
                break
            if not seen[item]:
                merged[row, count] = item
                count += 1
        for item in related[row]:
            if item >= 0:
                seen[item] = False
    return merged


@njit(cache=True, nogil=True)
def weighted_boosts(weights: np.ndarray, history: np.ndarray, items: np.ndarray, boosts: np.ndarray) -> np.ndarray:
    """``sum_h weights[b, h] * boosts[history[b, h], items[b, s]]``, ``(B, S)``, summed in order of ``h``;
    slots of weight 0 (unclicked or empty, ``history`` -1) add nothing and are skipped."""
    batch, length = history.shape
    total = np.zeros(items.shape)
    for row in range(batch):
        for slot in range(length):
            weight = weights[row, slot]
            if weight == 0.0:
                continue
            boosted = boosts[history[row, slot]]
            for column in range(items.shape[1]):
                total[row, column] += weight * boosted[items[row, column]]
    return total
