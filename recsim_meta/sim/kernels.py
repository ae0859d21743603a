"""Compiled loops (numba) over the users of a batched step, where numpy would make many passes over short rows.

Each loop but ``draw_candidates`` does what the numpy code it replaced did, with the same operations in the
same order (numpy's pairwise summation included), so trajectories are unchanged; tests compare them with
numpy bit for bit. ``draw_candidates`` samples the candidates of many users at once with counter-based
random draws of its own (one user keeps ``Generator.choice``). ``row_loops`` runs a loop on every core for
large batches. ``cache=True`` keeps the compiled code between processes; ``nogil=True`` lets other Python
threads run meanwhile.
"""

from __future__ import annotations

import functools
import os
import types
from collections.abc import Callable

import numpy as np
from numba import njit, prange

PARALLEL_ROWS = 512  # from here on, threads pay: starting them costs 2-10 us, what 512 rows of a light loop take
_threads_pid: int | None = None  # the process whose row loops run threaded: the first to use threads


def row_loops(function: Callable) -> Callable:
    """``function``, whose outer loop is a ``prange`` over the rows of its first argument, compiled twice:
    a plain loop for few rows, numba's threads for ``PARALLEL_ROWS`` rows or more. Each row is computed
    on its own, so both give the same result.

    Only the first process to use the threads uses them: GNU OpenMP (numba's threads here) kills a child
    forked after it started, so such children run the plain loops.
    """
    serial = njit(cache=True, nogil=True)(function)
    threaded = njit(cache=True, nogil=True, parallel=True)(_renamed(function, "_threaded"))

    @functools.wraps(function)
    def run(*args: np.ndarray) -> np.ndarray:
        global _threads_pid
        if len(args[0]) < PARALLEL_ROWS:
            return serial(*args)
        _threads_pid = _threads_pid or os.getpid()
        return (threaded if _threads_pid == os.getpid() else serial)(*args)

    run.serial, run.threaded = serial, threaded
    return run


def _renamed(function: Callable, suffix: str) -> Callable:
    """A copy of ``function`` with another name: numba's cache files are named after the function."""
    copy = types.FunctionType(function.__code__, function.__globals__, function.__name__ + suffix)
    copy.__qualname__ = function.__qualname__ + suffix
    return copy


ROWS_PER_BITMAP = 64  # ``draw_candidates`` marks the items of a row in a bitmap shared by this many rows
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # SplitMix64's increment


@njit(cache=True, nogil=True)
def _random_bits(key: np.uint64, counter: np.uint64) -> np.uint64:
    """64 random bits: SplitMix64's output for state ``key + counter * increment``, so draw ``counter`` of a
    stream depends on nothing else (counter-based, the same on any thread)."""
    z = key + _GOLDEN * counter
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@row_loops
def draw_candidates(
    clicked: np.ndarray,
    history: np.ndarray,
    degree: np.ndarray,
    neighbours: np.ndarray,
    num_items: int,
    size: int,
    related: int,
    key: np.uint64,
) -> np.ndarray:
    """Candidates ``(B, size)`` for many sessions, ``related`` KG neighbours and then distinct uniform items
    per row, with random draws of their own: a row's draws are SplitMix64 at counters from ``row * 2^32`` on,
    from the random ``key``, so rows can run on any thread.

    Like ``add_related`` on ``Generator.choice``'s sample: up to ``related`` draws ``u`` in [0, 1) pick
    ``neighbours[source, int(u * degree[source])]`` of the row's most recently clicked item (``clicked``
    ``(B, H)`` flags ``history`` ``(B, H)``; none without a click), each kept once; then items uniform over
    ``[0, num_items)`` (Lemire's bounded integers, exact) fill the row, repeats skipped (rejection sampling:
    a uniform random sample of the items not already in the row, in random order).
    """
    batch = len(clicked)
    candidates = np.empty((batch, size), dtype=np.int64)
    reject_below = np.uint64(2**32 % num_items)  # Lemire: low products under this would bias the draw
    for first in prange((batch + ROWS_PER_BITMAP - 1) // ROWS_PER_BITMAP):
        taken = np.zeros(num_items, dtype=np.bool_)
        for row in range(first * ROWS_PER_BITMAP, min(batch, (first + 1) * ROWS_PER_BITMAP)):
            counter = np.uint64(row) << np.uint64(32)
            source, count = _latest_click(clicked[row], history[row], degree)
            filled = 0
            for _ in range(related):
                counter += np.uint64(1)
                unit = np.float64(_random_bits(key, counter) >> np.uint64(11)) * 2.0**-53
                slot = np.int64(unit * count)
                if slot < count and not taken[neighbours[source, slot]]:
                    taken[neighbours[source, slot]] = True
                    candidates[row, filled] = neighbours[source, slot]
                    filled += 1
            while filled < size:
                counter += np.uint64(1)
                product = (_random_bits(key, counter) >> np.uint64(32)) * np.uint64(num_items)
                item = np.int64(product >> np.uint64(32))
                if (product & np.uint64(0xFFFFFFFF)) >= reject_below and not taken[item]:
                    taken[item] = True
                    candidates[row, filled] = item
                    filled += 1
            for slot in range(size):
                taken[candidates[row, slot]] = False
    return candidates


@njit(cache=True, nogil=True)
def add_related(
    clicked: np.ndarray,
    history: np.ndarray,
    draws: np.ndarray,
    degree: np.ndarray,
    neighbours: np.ndarray,
    uniform: np.ndarray,
) -> np.ndarray:
    """Candidates ``(B, M)`` (the single env's: B = 1): KG neighbours of each row's most recently clicked item
    first, then the items of ``uniform`` (distinct in each row) that are not among them, up to ``M``.

    Neighbour ``j`` of row ``b`` is ``neighbours[source, int(draws[b, j] * degree[source])]`` (kept once);
    rows with no click in ``clicked`` (``(B, H)``, the history's clicked column) have none.
    """
    batch, size = uniform.shape
    merged = np.empty((batch, size), dtype=np.int64)
    for row in range(batch):
        source, count = _latest_click(clicked[row], history[row], degree)
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
def _latest_click(clicked: np.ndarray, history: np.ndarray, degree: np.ndarray) -> tuple[int, int]:
    """The most recently clicked item of a history row and its KG degree; ``(0, 0)`` without a click."""
    for slot in range(len(history) - 1, -1, -1):
        if clicked[slot] > 0:
            return history[slot], degree[history[slot]]
    return 0, 0


@njit(cache=True, nogil=True)
def _holds(values: np.ndarray, item: int) -> bool:
    for value in values:
        if value == item:
            return True
    return False


@row_loops
def weighted_boosts(
    clicked: np.ndarray,
    decay: np.ndarray,
    history: np.ndarray,
    items: np.ndarray,
    boost_columns: np.ndarray,
    boost_values: np.ndarray,
) -> np.ndarray:
    """``sum_h clicked[b, h] * decay[h] * boosts[history[b, h], items[b, s]]``, ``(B, S)``, summed in order of
    ``h``, with the boost matrix given by its nonzero entries per row (``nonzero_rows``). Terms that are 0
    (slots not clicked or empty, pairs without a boost) add nothing and are skipped."""
    batch, length = history.shape
    total = np.zeros(items.shape)
    for row in prange(batch):
        for slot in range(length):
            weight = clicked[row, slot] * decay[slot]
            if weight == 0.0:
                continue
            columns, values = boost_columns[history[row, slot]], boost_values[history[row, slot]]
            for position in range(items.shape[1]):
                for entry in range(len(columns)):
                    if columns[entry] == items[row, position]:
                        total[row, position] += weight * values[entry]
                        break
    return total


@row_loops
def mnl_rows(utilities: np.ndarray, no_click_utility: float, temperature: float) -> np.ndarray:
    """Multinomial logit probabilities ``(R, K + 1)`` of ``(R, K)`` utilities (``-inf``: empty slot), the
    last column for a no-click option of utility ``no_click_utility``."""
    rows, size = utilities.shape
    probabilities = np.empty((rows, size + 1))
    for row in prange(rows):
        scores = probabilities[row]
        top = scores[size] = no_click_utility * temperature
        for column in range(size):
            scores[column] = utilities[row, column] * temperature
            top = max(top, scores[column])
        for column in range(size + 1):
            scores[column] = np.exp(scores[column] - top)
        total = 0.0 + _pairwise_sum(scores, 0, size + 1)
        for column in range(size + 1):
            scores[column] /= total
    return probabilities


@njit(cache=True, nogil=True)
def _pairwise_sum(values: np.ndarray, start: int, count: int) -> float:
    """``values[start : start + count].sum()`` in numpy's order: runs of up to 128 values by ``_run_sum``;
    a longer run is split in two, the first part a multiple of 8 long, and the two sums added.

    numpy recurses; this loop keeps its own stack, since numba's cache cannot load recursive functions.
    """
    if count <= 128:
        return _run_sum(values, start, count)
    starts, counts = np.empty(64, dtype=np.int64), np.empty(64, dtype=np.int64)
    lefts, waiting = np.empty(64), np.zeros(64, dtype=np.bool_)  # the left part's sum, once known
    depth = 0
    starts[0], counts[0] = start, count
    while True:
        if counts[depth] > 128:  # descend into the left part
            depth += 1
            starts[depth], counts[depth], waiting[depth] = starts[depth - 1], _left_part(counts[depth - 1]), False
            continue
        total = _run_sum(values, starts[depth], counts[depth])
        while depth > 0 and waiting[depth - 1]:  # both parts known: add them and go up
            depth -= 1
            total = lefts[depth] + total
        if depth == 0:
            return total
        parent = depth - 1  # a left part is done: keep its sum and do the right part
        lefts[parent], waiting[parent] = total, True
        left = _left_part(counts[parent])
        starts[depth], counts[depth], waiting[depth] = starts[parent] + left, counts[parent] - left, False


@njit(cache=True, nogil=True)
def _left_part(count: int) -> int:
    half = count // 2
    return half - half % 8


@njit(cache=True, nogil=True)
def _run_sum(values: np.ndarray, start: int, count: int) -> float:
    """numpy's sum of at most 128 values: in order below 8, else eight running sums added pairwise."""
    if count < 8:
        total = 0.0
        for index in range(start, start + count):
            total += values[index]
        return total
    p0, p1, p2, p3, p4, p5, p6, p7 = values[start : start + 8]  # scalars: no array to allocate per row
    index = 8
    while index < count - count % 8:
        at = start + index
        p0, p1, p2, p3 = p0 + values[at], p1 + values[at + 1], p2 + values[at + 2], p3 + values[at + 3]
        p4, p5, p6, p7 = p4 + values[at + 4], p5 + values[at + 5], p6 + values[at + 6], p7 + values[at + 7]
        index += 8
    total = ((p0 + p1) + (p2 + p3)) + ((p4 + p5) + (p6 + p7))
    for rest in range(index, count):
        total += values[start + rest]
    return total


@row_loops
def choose_rows(probabilities: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Option of each row of ``(R, K + 1)`` probabilities picked by its uniform draw: the number of
    cumulative probabilities below the draw, at most ``K``."""
    rows, options = probabilities.shape
    choice = np.empty(rows, dtype=np.int64)
    for row in prange(rows):
        cumulative, below = 0.0, 0
        for option in range(options):
            cumulative = probabilities[row, option] if option == 0 else cumulative + probabilities[row, option]
            below += cumulative < draws[row]
        choice[row] = min(below, options - 1)
    return choice


@row_loops
def move_interests(
    interest: np.ndarray,
    pull: np.ndarray,
    targets: np.ndarray,
    mean: np.ndarray,
    reversion: float,
    noise_scale: float,
    noise: np.ndarray,
) -> None:
    """In place: ``interest += pull[:, None] * (targets - interest) + reversion * (mean - interest)
    + noise_scale * (noise - 0.5)``, added in that order."""
    for row in prange(interest.shape[0]):
        for column in range(interest.shape[1]):
            current = interest[row, column]
            toward = pull[row] * (targets[row, column] - current) + reversion * (mean[column] - current)
            interest[row, column] = current + (toward + noise_scale * (noise[row, column] - 0.5))


@row_loops
def push_history(
    ids: np.ndarray,
    responses: np.ndarray,
    items: np.ndarray,
    clicked: np.ndarray,
    reward: np.ndarray,
    engagement: np.ndarray,
) -> None:
    """In place: shift each row of the history ``ids`` ``(B, H)`` and ``responses`` ``(B, H, 3)`` one slot
    to the left (oldest out) and write ``items`` and ``(clicked, reward, engagement)`` in the last slot."""
    length = ids.shape[1]
    for row in prange(ids.shape[0]):
        for slot in range(length - 1):  # element by element: a slice assignment per slot is several times slower
            ids[row, slot] = ids[row, slot + 1]
            for column in range(responses.shape[2]):
                responses[row, slot, column] = responses[row, slot + 1, column]
        ids[row, length - 1] = items[row]
        responses[row, length - 1, 0] = clicked[row]
        responses[row, length - 1, 1] = reward[row]
        responses[row, length - 1, 2] = engagement[row]


@row_loops
def repeats_earlier(rows: np.ndarray) -> np.ndarray:
    """``(B, S)`` mask of the entries of ``rows`` equal to an entry before them in their row."""
    repeats = np.zeros(rows.shape, dtype=np.bool_)
    for row in prange(rows.shape[0]):
        for column in range(1, rows.shape[1]):
            repeats[row, column] = _holds(rows[row, :column], rows[row, column])
    return repeats


@row_loops
def tire_and_spend(
    fatigue: np.ndarray,
    satisfaction: np.ndarray,
    budget: np.ndarray,
    clicked: np.ndarray,
    topics: np.ndarray,
    received: np.ndarray,
    time_spent: np.ndarray,
    rates: tuple[float, float, float, float, float],
) -> None:
    """In place, per user: fatigue decays and grows on the consumed topic; satisfaction moves toward the
    received utility; the budget pays the time spent (``no_click_cost`` without a click), less a refund
    for satisfaction. ``rates``: ``(fatigue_decay, fatigue_rate, satisfaction_rate, budget_refund,
    no_click_cost)``; the sums are numpy's, in the same order."""
    fatigue_decay, fatigue_rate, satisfaction_rate, budget_refund, no_click_cost = rates
    for row in prange(fatigue.shape[0]):
        took = 1.0 if clicked[row] else 0.0
        for topic in range(fatigue.shape[1]):
            fatigue[row, topic] *= fatigue_decay
        fatigue[row, topics[row]] += fatigue_rate * took
        satisfaction[row] += satisfaction_rate * took * (received[row] - satisfaction[row])
        spent = time_spent[row] if clicked[row] else no_click_cost
        budget[row] -= spent - budget_refund * took * time_spent[row] * satisfaction[row]
