"""Compiled loops (numba) for the parts of a batched step that numpy does slowly: many short rows.

Each does exactly what the numpy code it replaced did, in the same order (the same floating-point sums),
so trajectories are unchanged; ``cache=True`` keeps the compiled code between processes.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def rows_with_repeats(draws: np.ndarray, rows: np.ndarray, num_items: int) -> np.ndarray:
    """The entries of ``rows`` whose row of ``draws`` (items in ``[0, num_items)``) holds an item twice."""
    seen = np.zeros(num_items, dtype=np.bool_)
    found = np.empty(len(rows), dtype=np.int64)
    count = 0
    for row in rows:
        repeat = False
        for item in draws[row]:
            if seen[item]:
                repeat = True
                break
            seen[item] = True
        for item in draws[row]:
            seen[item] = False
        if repeat:
            found[count] = row
            count += 1
    return found[:count]


@njit(cache=True)
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


@njit(cache=True)
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
