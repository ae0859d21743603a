"""Compiled loops (numba) over the users of a batched step, where numpy would make many passes over short rows.

For one user (the single env) each loop replaces many numpy calls on tiny arrays, which cost more than
their arithmetic; for many users it saves passes over memory. Each loop but ``draw_candidates`` does what
the numpy code it replaced did, with the same operations in the same order (numpy's pairwise summation and
einsum's order included), and makes its random draws as numpy's ``Generator`` did, on the generator's own
state (``pcg64``), so trajectories are unchanged; tests compare them with numpy's formulas bit for bit.
``draw_candidates`` samples the candidates of many users at once with counter-based random draws of its own.
``row_loops`` runs a loop on every core for large batches; draws in order come before its threads.
``cache=True`` keeps the compiled code between processes; ``nogil=True`` lets other Python threads run
meanwhile. The step's loops but ``draw_candidates`` (many users only) write their results into arrays the
caller allocates, their last arguments: numba hands a returned array to Python through a call that unpickles
its dtype, which for one user costs more than the loop.
"""

from __future__ import annotations

import functools
import os
import types
from collections.abc import Callable

import numpy as np
from numba import njit, prange

from recsim_meta.sim.pcg64 import choice_distinct, random_double

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


# A helper of the loops, inlined where it is called: as a call, each of its array arguments would have its
# reference count raised and lowered (atomic operations, contended between threads) every time.
row_helper = njit(cache=True, nogil=True, inline="always")


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

    Like ``draw_session_candidates``, with other draws: up to ``related`` draws ``u`` in [0, 1) pick
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
def draw_session_candidates(
    state: np.ndarray,
    spare: np.ndarray,
    clicked: np.ndarray,
    history: np.ndarray,
    degree: np.ndarray,
    neighbours: np.ndarray,
    num_items: int,
    related: int,
    candidates: np.ndarray,
) -> None:
    """The ``candidates`` ``(1, size)`` of one session (the single env's), written in place, drawn from a
    generator's PCG64 ``state`` and ``spare`` (``pcg64.generator_state``) as ``rng.choice(num_items, size,
    replace=False)`` and then ``rng.random(related)`` would: the KG neighbours of the session's most recently
    clicked item first, then the uniform sample's items that are not among them, up to ``size``.

    Draw ``u`` picks neighbour ``neighbours[source, int(u * degree[source])]`` (kept once); without a click
    in ``clicked`` (``(1, H)``, the history's clicked column, for ``history`` ``(1, H)``) there is none.
    """
    size = candidates.shape[1]
    uniform = choice_distinct(state, spare, num_items, size)
    source, count = _latest_click(clicked[0], history[0], degree)
    kept = 0
    for _ in range(related):
        slot = np.int64(random_double(state) * count)
        if slot < count and not _holds(candidates[0, :kept], neighbours[source, slot]):
            candidates[0, kept] = neighbours[source, slot]
            kept += 1
    filled = kept
    for item in uniform:
        if filled == size:
            break
        if not _holds(candidates[0, :kept], item):
            candidates[0, filled] = item
            filled += 1


@row_helper
def _latest_click(clicked: np.ndarray, history: np.ndarray, degree: np.ndarray) -> tuple[int, int]:
    """The most recently clicked item of a history row and its KG degree; ``(0, 0)`` without a click."""
    for slot in range(len(history) - 1, -1, -1):
        if clicked[slot] > 0:
            return history[slot], degree[history[slot]]
    return 0, 0


@row_helper
def _holds(values: np.ndarray, item: int) -> bool:
    for value in values:
        if value == item:
            return True
    return False


MNL, CASCADE, PROPORTIONAL = 0, 1, 2  # codes of the choice models (``choice.CHOICE_CODES``)


@row_loops
def choice_rows(utilities: np.ndarray, no_click_utility: float, temperature: float, model: int) -> np.ndarray:
    """Choice probabilities ``(R, K + 1)`` of ``(R, K)`` utilities (``-inf``: empty slot) under the choice
    ``model`` (``MNL`` or ``CASCADE``), the last column for a no-click option of utility ``no_click_utility``."""
    probabilities = np.empty((utilities.shape[0], utilities.shape[1] + 1))
    for row in prange(utilities.shape[0]):
        _choice_row(model, utilities[row], no_click_utility, temperature, probabilities[row])
    return probabilities


@row_helper
def _choice_row(
    model: int, utilities: np.ndarray, no_click_utility: float, temperature: float, probabilities: np.ndarray
) -> None:
    """One row of ``choice_rows``, written to ``probabilities``."""
    if model == CASCADE:
        _cascade_row(utilities, no_click_utility, temperature, probabilities)
    elif model == PROPORTIONAL:
        _proportional_row(utilities, no_click_utility, temperature, probabilities)
    else:
        _mnl_row(utilities, no_click_utility, temperature, probabilities)


@row_helper
def _mnl_row(utilities: np.ndarray, no_click_utility: float, temperature: float, probabilities: np.ndarray) -> None:
    """Multinomial logit over one slate and the no-click option, written to ``probabilities``."""
    size = len(utilities)
    top = probabilities[size] = no_click_utility * temperature
    for column in range(size):
        probabilities[column] = utilities[column] * temperature
        top = max(top, probabilities[column])
    for column in range(size + 1):
        probabilities[column] = np.exp(probabilities[column] - top)
    total = 0.0 + _pairwise_sum(probabilities, 0, size + 1)
    for column in range(size + 1):
        probabilities[column] /= total


@row_helper
def _proportional_row(
    utilities: np.ndarray, no_click_utility: float, temperature: float, probabilities: np.ndarray
) -> None:
    """RecSim's multinomial proportional model over one slate, written to ``probabilities``: each option in
    proportion to ``max(1 + temperature * u, 0)`` (an empty slot's ``-inf`` gives 0), the no-click option's
    ``u`` being ``no_click_utility``. RecSim offsets its scores by 1 (its ``min_normalizer`` of -1)."""
    size = len(utilities)
    probabilities[size] = max(1.0 + temperature * no_click_utility, 0.0)
    total = probabilities[size]
    for column in range(size):
        probabilities[column] = max(1.0 + temperature * utilities[column], 0.0)
        total += probabilities[column]
    for column in range(size + 1):
        probabilities[column] = probabilities[column] / total if total > 0 else (column == size) * 1.0


@row_helper
def _cascade_row(utilities: np.ndarray, no_click_utility: float, temperature: float, probabilities: np.ndarray) -> None:
    """Cascade over one slate, written to ``probabilities``: position ``k`` is reached with the product of ``1 - click`` above it and
    clicked with ``click = sigmoid(temperature * (u_k - no_click_utility))``; the rest is no click."""
    survive = 1.0
    for column in range(len(utilities)):
        click = 1.0 / (1.0 + np.exp(-temperature * (utilities[column] - no_click_utility)))
        probabilities[column] = survive * click
        survive *= 1.0 - click
    probabilities[len(utilities)] = survive


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


def shown_arrays(batch: int, size: int) -> tuple[np.ndarray, ...]:
    """``show_slates``' last arguments, to write into, for ``batch`` slates of ``size``: ``(items, clicked,
    position, item, empty, affinity, engagement)``."""
    return (
        np.empty((batch, size), dtype=np.int64),
        np.empty(batch, dtype=np.bool_),
        np.empty(batch, dtype=np.int64),
        np.empty(batch, dtype=np.int64),
        np.empty((batch, size), dtype=np.bool_),
        np.empty(batch),
        np.empty(batch),
    )


@row_loops
def show_slates(
    slates: np.ndarray,
    candidates: np.ndarray,
    user: tuple,
    position_bias: np.ndarray,
    choice: tuple,
    engagement: tuple,
    state: np.ndarray,
    items: np.ndarray,
    clicked: np.ndarray,
    position: np.ndarray,
    item: np.ndarray,
    empty: np.ndarray,
    affinity: np.ndarray,
    engaged: np.ndarray,
) -> None:
    """Each user's response to a slate of candidate positions ``slates`` ``(B, K)``, written into the last
    arguments (``shown_arrays``): ``(items, clicked, position, item, empty, affinity, engagement)``, the last
    two of the chosen item.

    ``items`` are the shown candidates; a position repeated in a row is an empty slot (``empty``). Their
    utilities and affinities are ``item_utilities``' for ``user``, plus the ``position_bias``; an empty slot's
    utility is ``-inf``. ``choice`` ``(no_click_utility, temperature, model)`` gives
    the choice probabilities (``choice_rows``), and one uniform draw per row from the PCG64 ``state``
    (``pcg64``; numpy's ``rng.random(B)``, drawn first) picks an option: the number of cumulative probabilities
    below it. Without a click ``position`` is -1, and ``item`` and its affinity and engagement are the last
    slot's (what the response function sees before its outcome is zeroed). The engagement is ``engagements``'
    (``engagement``: its ``quality``, ``affinity_weight`` and ``quality_weight``).
    """
    batch, size = slates.shape
    draws = np.empty(batch)
    for row in range(batch):  # in order, before the threads
        draws[row] = random_double(state)
    no_click_utility, temperature, model = choice
    # unpacked here: numba's threads take tuples of arrays, but not a tuple of such tuples
    interest, vectors, boosts, appeal, topics, fatigue, burst, social, terms = user
    quality, affinity_weight, quality_weight = engagement
    utilities, affinities = np.empty((batch, size)), np.empty((batch, size))
    scratch = np.empty((batch, 2, len(boosts[1])))
    probabilities = np.empty((batch, size + 1))
    for row in prange(batch):
        for column in range(size):
            items[row, column] = candidates[row, slates[row, column]]
        _utility_row(
            row, items[row], interest, vectors, boosts, appeal, topics, fatigue, burst, social, terms,
            scratch[row], utilities[row], affinities[row],
        )  # fmt: skip
        for column in range(size):
            empty[row, column] = _holds(slates[row, :column], slates[row, column])
            utilities[row, column] = -np.inf if empty[row, column] else utilities[row, column] + position_bias[column]
        _choice_row(model, utilities[row], no_click_utility, temperature, probabilities[row])
        cumulative, below = 0.0, 0
        for option in range(size + 1):
            cumulative = probabilities[row, 0] if option == 0 else cumulative + probabilities[row, option]
            below += cumulative < draws[row]
        clicked[row] = below < size
        chosen = min(below, size - 1)
        position[row] = chosen if clicked[row] else -1
        item[row] = items[row, chosen]
        affinity[row] = affinities[row, chosen]
        engaged[row] = _engagement(affinity[row], item[row], row, quality, affinity_weight, quality_weight, terms)


def advanced_arrays(batch: int) -> tuple[np.ndarray, ...]:
    """``advance_sessions``' last arguments, to write into, for ``batch`` sessions: ``(reward, consumed,
    engagement, ended)``."""
    return np.empty(batch), np.empty(batch, dtype=np.int64), np.empty(batch), np.empty(batch, dtype=np.bool_)


@row_loops
def advance_sessions(
    clicked: np.ndarray,
    item: np.ndarray,
    items: np.ndarray,
    item_reward: np.ndarray,
    penalty: np.ndarray,
    item_engagement: np.ndarray,
    item_affinity: np.ndarray,
    time: np.ndarray,
    interest: np.ndarray,
    fatigue: np.ndarray,
    satisfaction: np.ndarray,
    budget: np.ndarray,
    history_ids: np.ndarray,
    history_responses: np.ndarray,
    steps: np.ndarray,
    clicks: np.ndarray,
    time_spent: np.ndarray,
    last_reward: np.ndarray,
    item_vectors: np.ndarray,
    item_topics: np.ndarray,
    item_quality: np.ndarray,
    interest_mean: np.ndarray,
    rates: np.ndarray,
    state: np.ndarray,
    reward: np.ndarray,
    consumed: np.ndarray,
    engagement: np.ndarray,
    ended: np.ndarray,
) -> None:
    """Advance ``B`` sessions by the step's outcome, in place, and write into the last arguments
    (``advanced_arrays``) the reward, the item consumed (-1 without a click), the engagement (0 without a
    click) and whether each session ended (budget spent, or churn).

    Per session, after the choice of ``item`` (``clicked`` or not) in the slate of ``items`` ``(B, K)``: the
    reward is the response's ``item_reward`` (0 without a click) less the ``penalty`` (none when empty); the
    consumed item's engagement, affinity and ``time`` give

    - the user: interests move toward the consumed item's vector (``pull * engagement``), back to the cohort
      mean (``reversion``) and by uniform noise (``(u - 0.5) * noise_scale``), or, with ``recsim_update`` 1,
      as RecSim's interest-evolution user's (``recsim_interest_update``); fatigue decays and grows on the
      consumed topic; satisfaction moves toward the received utility (``quality + satisfaction_affinity *
      affinity``); the budget pays the time spent (``no_click_cost`` without a click), less a refund for
      satisfaction;
    - the history shifts one slot (oldest out) and records the item consumed, or the slate's first item, with
      ``(clicked, reward, engagement)``; the step count, clicks, time spent and last reward follow;
    - the session ends when the budget is spent, or churns when a uniform draw is below
      ``churn_rate * (1 - engagement)`` (``churn_rate`` 0: never).

    The uniform draws come from the PCG64 ``state`` (``pcg64``), first, in numpy's order: the noise as
    ``rng.random(interest.shape)``, then the churn's as ``rng.random(B)`` (none when ``churn_rate`` is 0), then
    with ``recsim_update`` the direction of the interest update as ``rng.random(B)``.
    ``rates``: ``[pull, reversion, noise_scale, fatigue_decay, fatigue_rate, satisfaction_rate,
    satisfaction_affinity, budget_refund, no_click_cost, churn_rate, recsim_update]``. The arithmetic is numpy's
    before these loops, in the same order.
    """
    (
        pull,
        reversion,
        noise_scale,
        fatigue_decay,
        fatigue_rate,
        satisfaction_rate,
        liking,
        refund,
        no_click_cost,
        churn,
        recsim_update,
    ) = rates
    noise = np.empty(interest.shape)
    for row in range(len(clicked)):  # in order, before the threads
        for column in range(interest.shape[1]):
            noise[row, column] = random_double(state)
    churn_draws = np.empty(len(clicked) if churn > 0 else 0)
    for row in range(len(churn_draws)):
        churn_draws[row] = random_double(state)
    direction_draws = np.empty(len(clicked) if recsim_update > 0 else 0)
    for row in range(len(direction_draws)):
        direction_draws[row] = random_double(state)
    length = history_ids.shape[1]
    for row in prange(len(clicked)):
        took = 1.0 if clicked[row] else 0.0
        reward[row] = item_reward[row] if clicked[row] else 0.0
        if len(penalty):
            reward[row] = reward[row] - penalty[row]
        consumed[row] = item[row] if clicked[row] else -1
        engaged = item_engagement[row] if clicked[row] else 0.0
        spent = time[row] if clicked[row] else no_click_cost
        chosen = item[row]
        if recsim_update > 0:
            if clicked[row]:
                recsim_interest_update(interest[row], item_vectors[chosen], pull, direction_draws[row])
        else:
            row_pull = pull * took * engaged
            for column in range(interest.shape[1]):
                current = interest[row, column]
                toward = row_pull * (item_vectors[chosen, column] - current) + reversion * (
                    interest_mean[column] - current
                )
                interest[row, column] = current + (toward + noise_scale * (noise[row, column] - 0.5))
        for topic in range(fatigue.shape[1]):
            fatigue[row, topic] *= fatigue_decay
        fatigue[row, item_topics[chosen]] += fatigue_rate * took
        received = item_quality[chosen] + liking * item_affinity[row]
        satisfaction[row] += satisfaction_rate * took * (received - satisfaction[row])
        budget[row] -= spent - refund * took * time[row] * satisfaction[row]
        for slot in range(length - 1):  # element by element: a slice assignment per slot is several times slower
            history_ids[row, slot] = history_ids[row, slot + 1]
            for column in range(history_responses.shape[2]):
                history_responses[row, slot, column] = history_responses[row, slot + 1, column]
        history_ids[row, length - 1] = chosen if clicked[row] else items[row, 0]
        history_responses[row, length - 1, 0] = took
        history_responses[row, length - 1, 1] = reward[row]
        history_responses[row, length - 1, 2] = engaged
        steps[row] += 1.0
        clicks[row] += took
        time_spent[row] += spent
        last_reward[row] = reward[row]
        engagement[row] = engaged
        ended[row] = budget[row] <= 0 or (churn > 0 and churn_draws[row] < churn * (1.0 - engaged))


@row_helper
def recsim_interest_update(interest: np.ndarray, vector: np.ndarray, step: float, draw: float) -> None:
    """RecSim's interest-evolution update of one user's ``interest`` after consuming an item of ``vector``, in
    place: with probability ``sum((interest + 1) / 2 * vector)`` (``draw`` below it) toward the item, else away,
    by ``step * (1 - |interest|) * vector * (vector - interest)`` per dimension, then clipped to [-1, 1]."""
    toward = 0.0
    for column in range(len(interest)):
        toward += (interest[column] + 1.0) / 2.0 * vector[column]
    sign = 1.0 if draw < toward else -1.0
    for column in range(len(interest)):
        current = interest[column]
        moved = current + sign * (step * (1.0 - abs(current))) * vector[column] * (vector[column] - current)
        interest[column] = min(max(moved, -1.0), 1.0)


MISMATCH, FRESHNESS = 2, 3  # codes of these kinds of utility term: their indices in ``UTILITY_TERM_KINDS``


@row_helper
def _term_sum(terms: tuple, item: int, row: int, engagement_only: bool) -> float:
    """Sum of the utility terms of ``item`` for the user of ``row``, added in order as numpy did (see
    ``World.domain_terms``); with ``engagement_only``, of the terms also in engagement. ``terms``: ``(values,
    kinds, weights, scales, halves, in_engagement, traits, elapsed)``, the arrays of ``TermTable``, each term's
    trait per user ``(B, n_terms)`` and the session time ``(B,)``.

    ``halves`` holds 0.5 per term, the freshness per half-life: a constant base would let LLVM turn ``pow``
    into ``exp2``, which differs from numpy's ``pow`` in the last bit."""
    values, kinds, weights, scales, halves, in_engagement, traits, elapsed = terms
    total = 0.0
    for k in range(len(kinds)):
        if engagement_only and not in_engagement[k]:
            continue
        if kinds[k] == MISMATCH:
            total += weights[k] * abs(values[item, k] - traits[row, k])
        elif kinds[k] == FRESHNESS:
            total += weights[k] * traits[row, k] * halves[k] ** ((values[item, k] + elapsed[row]) / scales[k])
        else:
            total += weights[k] * traits[row, k] * values[item, k]
    return total


@row_loops
def term_sums(items: np.ndarray, terms: tuple) -> np.ndarray:
    """``(B, S)`` sums of the utility terms of ``items`` ``(B, S)`` for each row's user (``terms``: see
    ``_term_sum``)."""
    total = np.empty(items.shape)
    for row in prange(items.shape[0]):
        for position in range(items.shape[1]):
            total[row, position] = _term_sum(terms, items[row, position], row, False)
    return total


@row_loops
def item_utilities(items: np.ndarray, user: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Click utility and affinity ``(B, S)`` of ``items`` for each row's user, added in numpy's order.

    ``user``: ``(interest, vectors, boosts, appeal, topics, fatigue, burst, social, terms)``. Affinity is
    ``interest . vectors[item]`` (``_einsum_dot``) plus the KG boost of the row's history (``boosts``:
    ``(clicked, decay, history, columns, values)``, ``clicked`` ``(0, 0)`` for none). Utility is ``affinity +
    appeal - fatigue[topic] + terms`` (``_term_sum``), then ``+ burst[topic]`` (``burst`` ``(B, T)``, or
    ``(0, 0)`` without bursts) and ``+ weight * signal[member, item]`` (``social``: ``(signal, member,
    weight)``, the float32 friend signal ``(P, N)``, ``(0, 0)`` without a social graph)."""
    # unpacked here: numba's threads take tuples of arrays, but not a tuple of such tuples
    interest, vectors, boosts, appeal, topics, fatigue, burst, social, terms = user
    utility, affinity = np.empty(items.shape), np.empty(items.shape)
    scratch = np.empty((items.shape[0], 2, len(boosts[1])))
    for row in prange(items.shape[0]):
        _utility_row(
            row, items[row], interest, vectors, boosts, appeal, topics, fatigue, burst, social, terms,
            scratch[row], utility[row], affinity[row],
        )  # fmt: skip
    return utility, affinity


@row_helper
def _utility_row(
    row: int,
    items: np.ndarray,
    interest: np.ndarray,
    vectors: np.ndarray,
    boosts: tuple,
    appeal: np.ndarray,
    topics: np.ndarray,
    fatigue: np.ndarray,
    burst: np.ndarray,
    social: tuple,
    terms: tuple,
    scratch: np.ndarray,
    utility: np.ndarray,
    affinity: np.ndarray,
) -> None:
    """One row of ``item_utilities``: ``utility`` and ``affinity`` of the row's ``items``, written in place.
    ``scratch`` ``(2, H)`` holds the KG boost's weights and boosts per history slot (the caller allocates it
    for all rows at once: an allocation per row costs more than the row's arithmetic)."""
    clicked, decay, history, columns, values = boosts
    signal, member, social_weight = social
    weights, related = scratch[0], scratch[1]
    if clicked.shape[0]:
        for slot in range(len(weights)):
            weights[slot] = clicked[row, slot] * decay[slot]
    for position in range(len(items)):
        item = items[position]
        topic = topics[item]
        wanted = _einsum_dot(interest[row], vectors[item])
        if clicked.shape[0]:
            for slot in range(len(weights)):  # an unclicked or empty slot adds 0 (0 * boost)
                source = history[row, slot]
                related[slot] = _lookup(columns[source], values[source], item) if weights[slot] else 0.0
            # einsum's order: two lanes for one item per row, else slot by slot
            wanted += _einsum_dot(weights, related) if len(items) == 1 else _ordered_dot(weights, related)
        affinity[position] = wanted
        total = wanted + appeal[item] - fatigue[row, topic] + _term_sum(terms, item, row, False)
        if burst.shape[0]:
            total += burst[row, topic]
        if signal.shape[0]:
            total += social_weight * signal[member[row], item]
        utility[position] = total


@row_helper
def _einsum_dot(a: np.ndarray, b: np.ndarray) -> float:
    """``np.einsum``'s dot product of two contiguous float64 vectors, in its order on x86-64 (numpy's SSE
    baseline): two lanes of running sums, blocks of eight values added last pair first, then the rest pair
    by pair, then the two lanes."""
    lane0, lane1 = 0.0, 0.0
    count, start = len(a), 0
    while count - start >= 8:
        for offset in (6, 4, 2, 0):
            at = start + offset
            lane0, lane1 = a[at] * b[at] + lane0, a[at + 1] * b[at + 1] + lane1
        start += 8
    for at in range(start, count, 2):
        lane0 = a[at] * b[at] + lane0
        if at + 1 < count:
            lane1 = a[at + 1] * b[at + 1] + lane1
    return 0.0 + (lane0 + lane1)


@row_helper
def _ordered_dot(a: np.ndarray, b: np.ndarray) -> float:
    total = 0.0
    for index in range(len(a)):
        total += a[index] * b[index]
    return total


@row_helper
def _lookup(columns: np.ndarray, values: np.ndarray, column: int) -> float:
    """The value of ``column`` in a sparse row (``knowledge_graph.nonzero_rows``), 0 where it has none."""
    for entry in range(len(columns)):
        if columns[entry] == column:
            return values[entry]
    return 0.0


@njit(cache=True, nogil=True)
def all_within(values: np.ndarray, limit: int) -> bool:
    """Whether every one of ``values`` lies in ``[0, limit)`` (an action's check: numpy's reductions, or
    Python's ``min`` and ``max`` of a list, cost several times more in a stepping loop)."""
    for value in values.flat:
        if value < 0 or value >= limit:
            return False
    return True


@njit(cache=True, nogil=True)
def where_clicked(clicked: np.ndarray, values: np.ndarray, out: np.ndarray) -> None:
    """``out[:] = np.where(clicked, values, 0.0)``, without numpy's iterator, which for a few values costs more
    than the step's compiled loops."""
    for row in range(len(clicked)):
        out[row] = values[row] if clicked[row] else 0.0


@row_loops
def observe_sessions(
    candidates: np.ndarray,
    item_features: np.ndarray,
    history_ids: np.ndarray,
    history_responses: np.ndarray,
    steps: np.ndarray,
    clicks: np.ndarray,
    last_reward: np.ndarray,
    time_spent: np.ndarray,
    friend_signal: np.ndarray,
    member: np.ndarray,
    candidate_ids: np.ndarray,
    candidate_features: np.ndarray,
    seen_ids: np.ndarray,
    seen_responses: np.ndarray,
    user: np.ndarray,
) -> None:
    """The observation of ``B`` sessions, written into the last arguments: the ``candidates`` and their rows of
    ``item_features`` ``(N, F)`` (flat, ``(B, M * F)``), whose last column is ``friend_signal[member, item]``
    for a social domain (``member`` empty otherwise); the history (``history_responses`` flat); and the first
    four columns of the ``user`` features (float32), ``log1p(steps)``, ``clicks / max(steps, 1)``,
    ``last_reward`` and ``log1p(time_spent)``."""
    size, width = candidates.shape[1], item_features.shape[1]
    length, responses = history_responses.shape[1], history_responses.shape[2]
    for row in prange(len(candidates)):
        for column in range(size):
            item = candidates[row, column]
            candidate_ids[row, column] = item
            for feature in range(width):  # element by element: a row slice per entry is slower
                candidate_features[row, column * width + feature] = item_features[item, feature]
            if len(member):
                candidate_features[row, column * width + width - 1] = friend_signal[member[row], item]
        for slot in range(length):
            seen_ids[row, slot] = history_ids[row, slot]
            for response in range(responses):
                seen_responses[row, slot * responses + response] = history_responses[row, slot, response]
        user[row, 0] = np.log1p(steps[row])
        user[row, 1] = clicks[row] / max(steps[row], 1.0)
        user[row, 2] = last_reward[row]
        user[row, 3] = np.log1p(time_spent[row])


@row_loops
def engagements(
    affinity: np.ndarray,
    items: np.ndarray,
    quality: np.ndarray,
    affinity_weight: float,
    quality_weight: float,
    terms: tuple,
) -> np.ndarray:
    """Engagement ``(B, S)`` with ``items`` of the given ``affinity``: ``sigmoid(affinity_weight * affinity +
    quality_weight * quality + terms)`` (``_term_sum`` of the engagement terms)."""
    engagement = np.empty(items.shape)
    for row in prange(items.shape[0]):
        for position in range(items.shape[1]):
            engagement[row, position] = _engagement(
                affinity[row, position], items[row, position], row, quality, affinity_weight, quality_weight, terms
            )
    return engagement


@row_helper
def _engagement(
    affinity: float,
    item: int,
    row: int,
    quality: np.ndarray,
    affinity_weight: float,
    quality_weight: float,
    terms: tuple,
) -> float:
    total = affinity_weight * affinity + quality_weight * quality[item] + _term_sum(terms, item, row, True)
    return 1.0 / (1.0 + np.exp(-total))
