"""The generative model's pieces: choice models, KG fusion, catalogue, users, tasks, slates."""

import dataclasses
import math
import platform

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from recsim_meta import DOMAINS, Task, make_config, make_splits, sample_tasks
from recsim_meta.envs.domains import UTILITY_TERM_KINDS, domain_variant
from recsim_meta.envs.world import _NO_BOOSTS as NO_BOOSTS  # the world's placeholders for parts a domain lacks
from recsim_meta.envs.world import _NO_BURSTS as NO_BURSTS
from recsim_meta.envs.world import _NO_FRIENDS as NO_FRIENDS
from recsim_meta.envs.world import World
from recsim_meta.sim.catalog import make_catalog
from recsim_meta.sim.choice import CHOICE_MODELS
from recsim_meta.sim.kernels import (
    CASCADE,
    MNL,
    PROPORTIONAL,
    advance_sessions,
    advanced_arrays,
    choice_rows,
    engagements,
    item_utilities,
    show_slates,
    shown_arrays,
    term_sums,
)
from recsim_meta.sim.knowledge_graph import (
    EntitySpec,
    RelationSpec,
    fuse_vectors,
    make_knowledge_graph,
    nonzero_rows,
)
from recsim_meta.sim.pcg64 import generator_state


def assert_to_rounding(actual: np.ndarray, desired: np.ndarray) -> None:
    np.testing.assert_allclose(actual, desired, rtol=1e-12, atol=1e-12)


# the compiled dot products follow np.einsum's order of summation on x86-64 (numpy's SSE baseline); elsewhere
# numpy sums in another order, and they agree to rounding
assert_like_einsum = (
    np.testing.assert_array_equal if platform.machine().lower() in ("x86_64", "amd64") else assert_to_rounding
)


utilities = arrays(
    np.float64, st.tuples(st.integers(1, 4), st.integers(1, 6)), elements=st.floats(-20, 20, allow_nan=False)
)


def show(kernel, utilities, slates, rng, no_click_utility=0.0, temperature=1.0, model=MNL):
    """``show_slates`` (``kernel``: its serial or threaded loop) for users whose utility of candidate ``j`` of
    row ``b`` is ``utilities[b, j]``: the candidates' appeal, with no interest, fatigue or terms. Draws from
    ``rng``'s state."""
    rows, size = utilities.shape
    candidates = np.arange(rows * size).reshape(rows, size)
    terms = (np.zeros((rows * size, 0)), *(np.zeros(0, dtype=t) for t in (int, float, float, float, bool)))
    user = (
        np.zeros((rows, 1)),  # interest
        np.zeros((rows * size, 1)),  # item vectors
        NO_BOOSTS,
        utilities.ravel(),  # appeal
        np.zeros(rows * size, dtype=int),  # topics
        np.zeros((rows, 1)),  # fatigue
        NO_BURSTS,
        NO_FRIENDS,
        (*terms, np.zeros((rows, 0)), np.zeros(rows)),
    )
    choice, engagement = (no_click_utility, temperature, model), (np.zeros(rows * size), 1.0, 1.0)
    out = shown_arrays(*slates.shape)
    kernel(slates, candidates, user, np.zeros(slates.shape[1]), choice, engagement, generator_state(rng)[0], *out)
    items, clicked, position, item, empty, _, _ = out
    return clicked, position, item - candidates[:, :1].ravel(), empty


@settings(max_examples=50, deadline=None)
@given(utilities, st.floats(-5, 5), st.floats(0.1, 5), st.sampled_from(sorted(CHOICE_MODELS)))
def test_choice_probabilities_are_distributions(u, no_click, temperature, model):
    p = CHOICE_MODELS[model](u, no_click, temperature)
    assert p.shape == (u.shape[0], u.shape[1] + 1)
    assert np.all(p >= 0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)


def test_empty_slots_are_never_chosen():
    u = np.array([[1.0, -np.inf, 0.5]])
    for model in CHOICE_MODELS.values():
        assert model(u, 0.0, 1.0)[0, 1] == 0.0


def test_mnl_matches_formula_and_sampling_follows_it():
    u = np.array([[1.0, 0.0]])
    p = CHOICE_MODELS["mnl"](u, 0.5, 2.0)
    expected = np.exp([2.0, 0.0, 1.0]) / np.exp([2.0, 0.0, 1.0]).sum()
    np.testing.assert_allclose(p[0], expected)
    slates = np.tile([0, 1], (20000, 1))
    clicked, position, _, _ = show(show_slates, np.repeat(u, 20000, axis=0), slates, np.random.default_rng(0), 0.5, 2.0)
    np.testing.assert_allclose(np.bincount(np.where(clicked, position, 2), minlength=3) / 20000, expected, atol=0.015)


@settings(max_examples=40, deadline=None)
@given(arrays(np.int64, st.tuples(st.integers(1, 600), st.integers(1, 6)), elements=st.integers(0, 5)))
def test_repeated_slate_positions_are_found_and_never_chosen(slates):
    expected = [[value in row[:slot] for slot, value in enumerate(row)] for row in slates.tolist()]
    utilities = np.zeros((len(slates), 6))  # six candidates per row
    for kernel in (show_slates.serial, show_slates.threaded):
        clicked, position, item, empty = show(kernel, utilities, slates, np.random.default_rng(0), -1.0)
        np.testing.assert_array_equal(empty, expected)
        assert not empty[np.arange(len(slates)), position][clicked].any()
        np.testing.assert_array_equal(item, slates[np.arange(len(slates)), position])


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 600), st.integers(1, 8), st.floats(-5, 5), st.floats(0.1, 5), st.integers(0, 2**32 - 1))
def test_compiled_cascade_matches_its_formula(rows, size, no_click, temperature, seed):
    """The cascade's numpy formula before the compiled rows (the C library's exp, as numba's)."""
    rng = np.random.default_rng(seed)
    u = np.where(rng.random((rows, size)) < 0.2, -np.inf, rng.normal(0, 3, (rows, size)))
    click = 1.0 / (1.0 + np.vectorize(math.exp)(-temperature * (u - no_click)))
    survive = np.cumprod(1.0 - click, axis=-1)
    reach = np.concatenate([np.ones((rows, 1)), survive[:, :-1]], axis=-1)
    expected = np.concatenate([reach * click, survive[:, -1:]], axis=-1)
    for kernel in (choice_rows.serial, choice_rows.threaded):
        np.testing.assert_array_equal(kernel(u, no_click, temperature, CASCADE), expected)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 600), st.integers(1, 8), st.floats(-3, 3), st.floats(0.1, 3), st.integers(0, 2**32 - 1))
def test_compiled_proportional_choice_matches_recsims_formula(rows, size, no_click, temperature, seed):
    """RecSim's multinomial proportional model: each option in proportion to its score minus the normaliser
    -1 (here ``1 + temperature * u``, 0 for an empty slot or a negative weight)."""
    rng = np.random.default_rng(seed)
    u = np.where(rng.random((rows, size)) < 0.2, -np.inf, rng.uniform(-1, 1, (rows, size)))
    weights = np.maximum(1.0 + temperature * np.concatenate([u, np.full((rows, 1), no_click)], axis=1), 0.0)
    total = weights.sum(axis=1, keepdims=True)
    expected = np.where(total > 0, weights / np.where(total > 0, total, 1.0), np.eye(size + 1)[-1])
    for kernel in (choice_rows.serial, choice_rows.threaded):
        assert_to_rounding(kernel(u, no_click, temperature, PROPORTIONAL), expected)


def test_recsim_choice_skips_about_half_of_random_slates():
    """RecSim's users (interests U(-1, 1), one-hot topics, no-click mass 1 against scores offset by 1) skip a
    random slate of 2 about half of the time."""
    u = np.random.default_rng(0).uniform(-1, 1, (100_000, 2))
    skipped = CHOICE_MODELS["proportional"](u, 1.0, 1.0)[:, -1].mean()
    assert 0.5 < skipped < 0.55, skipped


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 40),
    st.sampled_from([1, 2, 3, 6, 7, 8, 9, 15, 16, 17, 127, 128, 200, 300]),
    st.floats(-5, 5),
    st.floats(0.1, 5),
    st.integers(0, 2**32 - 1),
)
def test_compiled_mnl_and_sampling_match_numpy_bit_for_bit(rows, size, no_click, temperature, seed):
    """The formula numpy computed before the compiled loops (with the C library's exp, which numba calls:
    numpy's own exp differs in the last bit on some CPUs), its pairwise sums included; serial and threaded."""
    rng = np.random.default_rng(seed)
    u = np.where(rng.random((rows, size)) < 0.2, -np.inf, rng.normal(0, 3, (rows, size)))
    scores = np.concatenate([u, np.full((rows, 1), no_click)], axis=1) * temperature
    weights = np.vectorize(math.exp)(scores - scores.max(axis=1, keepdims=True))
    expected = weights / weights.sum(axis=-1, keepdims=True)
    draws = np.random.default_rng(seed + 1).random(rows)
    choices = np.minimum((np.cumsum(expected, axis=-1) < draws[:, None]).sum(axis=-1), size)
    positions = np.tile(np.arange(size), (rows, 1))  # a slate of distinct positions, no position bias
    for probabilities, choose in (
        (choice_rows.serial, show_slates.serial),
        (choice_rows.threaded, show_slates.threaded),
    ):
        np.testing.assert_array_equal(probabilities(u, no_click, temperature, MNL), expected)
        clicked, position, item, empty = show(
            choose, u, positions, np.random.default_rng(seed + 1), no_click, temperature
        )
        np.testing.assert_array_equal(np.where(clicked, position, size), choices)
        np.testing.assert_array_equal(item, np.minimum(choices, size - 1))
        assert not empty.any()
    np.testing.assert_array_equal(CHOICE_MODELS["mnl"](u.reshape(rows, 1, size), no_click, temperature)[:, 0], expected)


@settings(max_examples=30, deadline=None)
@given(
    st.integers(1, 700),
    st.integers(1, 9),
    st.integers(1, 6),
    st.integers(1, 6),
    st.booleans(),
    st.booleans(),
    st.integers(0, 2**32 - 1),
)
def test_compiled_session_advance_matches_numpy_bit_for_bit(rows, dim, topics, length, churns, penalised, seed):
    """``advance_sessions`` against the numpy formulas it replaced (users, history, statistics, ending)."""
    rng = np.random.default_rng(seed)
    n = 40
    clicked, item, top = rng.random(rows) < 0.5, rng.integers(0, n, rows), rng.integers(0, n, rows)
    item_reward, engagement, affinity, time = (
        rng.normal(size=rows),
        rng.random(rows),
        rng.normal(size=rows),
        rng.random(rows),
    )
    state = (
        rng.normal(size=(rows, dim)),  # interest
        rng.random((rows, topics)),  # fatigue
        rng.normal(size=rows),  # satisfaction
        rng.normal(size=rows),  # budget
        rng.integers(-1, n, (rows, length)),  # history ids
        rng.normal(size=(rows, length, 3)).astype(np.float32),  # history responses
        *rng.integers(0, 9, (3, rows)).astype(np.float64),  # steps, clicks, time spent
        rng.normal(size=rows),  # last reward
    )
    vectors, item_topics, mean = rng.normal(size=(n, dim)), rng.integers(0, topics, n), rng.normal(size=dim)
    quality = rng.normal(size=n)
    rates = np.array([*rng.random(9), rng.random() if churns else 0.0, 0.0])  # the pull update, not RecSim's
    pull, reversion, scale, decay, rate, satisfaction_rate, liking, refund, no_click_cost, churn, _ = rates
    draws = np.random.default_rng(seed + 1)  # the kernel draws from a twin: noise first, then churn
    noise, churn_draws = draws.random((rows, dim)), draws.random(rows) if churn > 0 else None
    received = quality[item] + liking * affinity

    interest, fatigue, satisfaction, budget, ids, responses, steps, clicks, time_spent, _ = (a.copy() for a in state)
    took = clicked.astype(np.float64)
    engaged = np.where(clicked, engagement, 0.0)
    penalty = rng.random(rows) if penalised else np.zeros(0)
    reward = np.where(clicked, item_reward, 0.0) - (penalty if penalised else 0.0)
    toward = (pull * took * engaged)[:, None] * (vectors[item] - interest) + reversion * (mean - interest)
    interest = interest + (toward + scale * (noise - 0.5))
    fatigue *= decay
    fatigue[np.arange(rows), item_topics[item]] += rate * took
    satisfaction = satisfaction + satisfaction_rate * took * (received - satisfaction)
    spent = np.where(clicked, time, no_click_cost)
    budget = budget - (spent - refund * took * time * satisfaction)
    shown = np.where(clicked, item, top)
    ids = np.concatenate([ids[:, 1:], shown[:, None]], axis=1)
    pushed = np.stack([clicked, reward, engaged], 1)[:, None].astype(np.float32)
    responses = np.concatenate([responses[:, 1:], pushed], axis=1)
    expected = (
        interest,
        fatigue,
        satisfaction,
        budget,
        ids,
        responses,
        steps + 1,
        clicks + clicked,
        time_spent + spent,
    )
    ended = (budget <= 0) | ((churn_draws < churn * (1.0 - engaged)) if churn > 0 else False)

    for kernel in (advance_sessions.serial, advance_sessions.threaded):
        advanced, twin = tuple(a.copy() for a in state), np.random.default_rng(seed + 1)
        out = advanced_arrays(rows)
        kernel(
            clicked, item, np.stack([top, item], axis=1), item_reward, penalty, engagement, affinity, time, *advanced,
            vectors, item_topics, quality, mean, rates, generator_state(twin)[0], *out,
        )  # fmt: skip
        got_reward, got_consumed, got_engagement, got_ended = out
        for got, want in zip(advanced, (*expected, reward), strict=True):
            np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(got_reward, reward)
        np.testing.assert_array_equal(got_consumed, np.where(clicked, item, -1))
        np.testing.assert_array_equal(got_engagement, engaged)
        np.testing.assert_array_equal(got_ended, ended)
        assert twin.bit_generator.state == draws.bit_generator.state


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 700), st.integers(1, 9), st.integers(0, 2**32 - 1))
def test_compiled_recsim_interest_update_matches_recsims_formula(rows, dim, seed):
    """With ``recsim_update`` a click moves interests as RecSim's interest-evolution user does
    (``IEvUserModel.update_state``): toward the item with probability ``(interest + 1) / 2 . v``, else away, by
    ``0.3 * (1 - |interest|) * v * (v - interest)``, clipped to [-1, 1]; no drift, reversion or pull."""
    rng = np.random.default_rng(seed)
    n, topics, length = 30, dim, 4
    clicked, item = rng.random(rows) < 0.5, rng.integers(0, n, rows)
    vectors = np.eye(dim)[rng.integers(0, dim, n)]  # one-hot items, as RecSim's
    interest = rng.uniform(-1, 1, (rows, dim))
    draws = np.random.default_rng(seed + 1)
    draws.random((rows, dim))  # the drift's noise comes first (unused here), then one direction draw per user
    direction = draws.random(rows)
    v = vectors[item]
    alpha = 0.3 * (1.0 - np.abs(interest))
    update = alpha * v * (v - interest)
    sign = np.where(direction < ((interest + 1.0) / 2.0 * v).sum(axis=1), 1.0, -1.0)
    expected = np.where(clicked[:, None], np.clip(interest + sign[:, None] * update, -1.0, 1.0), interest)
    rates = np.array([0.3, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.26, 0.5, 0.0, 1.0])
    for kernel in (advance_sessions.serial, advance_sessions.threaded):
        state = (
            interest.copy(), np.zeros((rows, topics)), np.zeros(rows), np.full(rows, 200.0),
            np.full((rows, length), -1), np.zeros((rows, length, 3), dtype=np.float32), *np.zeros((3, rows)),
            np.zeros(rows),
        )  # fmt: skip
        twin = np.random.default_rng(seed + 1)
        kernel(
            clicked, item, np.stack([item, item], axis=1), np.full(rows, 4.0), np.zeros(0), rng.random(rows),
            rng.normal(size=rows), np.full(rows, 4.0), *state, vectors, np.argmax(vectors, axis=1),
            rng.normal(size=n), np.zeros(dim), rates, generator_state(twin)[0], *advanced_arrays(rows),
        )  # fmt: skip
        assert_to_rounding(state[0], expected)
        assert twin.bit_generator.state == draws.bit_generator.state


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 700),
    st.integers(1, 5),
    st.integers(1, 20),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.integers(0, 2**32 - 1),
)
def test_compiled_utilities_match_numpy(rows, size, dim, boosted, bursts, social, seed):
    """``item_utilities`` and ``term_sums`` against the numpy formulas they replaced, with every kind of term
    and KG boosts of either sign (float32, like the world's). One item per row included: einsum then sums
    the boosts in another order."""
    rng = np.random.default_rng(seed)
    n, topics, length = 30, 4, 10
    items, interest, vectors = rng.integers(0, n, (rows, size)), rng.normal(size=(rows, dim)), rng.normal(size=(n, dim))
    affinity = np.einsum("bd,bsd->bs", interest, np.take(vectors, items, axis=0))
    boosts = (rng.normal(size=(n, n)) * (rng.random((n, n)) < 0.3)).astype(np.float32)
    boosts[3] = 0.0  # an item with no boosted neighbours
    history = rng.integers(-1, n, (rows, length))
    clicked = np.where(history >= 0, rng.random((rows, length)) < 0.5, 0).astype(np.float32)
    decay = 0.8 ** np.arange(length - 1, -1, -1)
    if boosted:
        affinity += np.einsum("bh,bhs->bs", clicked * decay, boosts[history[:, :, None], items[:, None, :]])
        kg = (clicked, decay, history, *nonzero_rows(boosts))
    else:
        kg = NO_BOOSTS
    appeal, item_topics, fatigue = rng.normal(size=n), rng.integers(0, topics, n), rng.random((rows, topics))
    burst = rng.random((rows, topics)) if bursts else NO_BURSTS
    signal, member = rng.random((3, n)).astype(np.float32), rng.integers(0, 3, rows)  # three members
    friends = (signal, member, np.float32(1.5)) if social else (signal[:0, :0], member[:0], np.float32(0.0))
    kinds = np.array([UTILITY_TERM_KINDS.index(k) for k in ("linear", "log", "mismatch", "freshness")])
    values, weights, scales = rng.normal(size=(n, 4)), rng.normal(size=4), rng.random(4) + 0.5
    in_engagement, traits, elapsed = rng.random(4) < 0.7, rng.normal(size=(rows, 4)), rng.random(rows) * 100

    expected_terms = 0.0
    for k, kind in enumerate(("linear", "log", "mismatch", "freshness")):
        v, t = values[items, k], traits[:, k : k + 1]
        if kind == "mismatch":
            expected_terms += weights[k] * np.abs(v - t)
        elif kind == "freshness":
            expected_terms += weights[k] * t * 0.5 ** ((v + elapsed[:, None]) / scales[k])
        else:
            expected_terms += weights[k] * t * v
    rows_ = np.arange(rows)[:, None]
    expected = affinity + appeal[items] - fatigue[rows_, item_topics[items]] + expected_terms
    if bursts:
        expected += burst[rows_, item_topics[items]]
    if social:
        expected += np.float32(1.5) * signal[member[:, None], items]  # in float32, as numpy computed it

    terms = (values, kinds, weights, scales, np.full(4, 0.5), in_engagement, traits, elapsed)  # every term counts
    np.testing.assert_array_equal(term_sums.serial(items, terms), term_sums.threaded(items, terms))
    for sums, utilities in ((term_sums.serial, item_utilities.serial), (term_sums.threaded, item_utilities.threaded)):
        # numba's pow and numpy's can differ in the last bit (the freshness term's 0.5 ** x, seen on one CPU)
        assert_to_rounding(sums(items, terms), np.zeros(items.shape) + expected_terms)
        value, value_affinity = utilities(
            items, (interest, vectors, kg, appeal, item_topics, fatigue, burst, friends, terms)
        )
        assert_to_rounding(value, expected)
        assert_like_einsum(value_affinity, affinity)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 700), st.integers(1, 4), st.booleans(), st.integers(0, 2**32 - 1))
def test_compiled_engagement_matches_numpy_bit_for_bit(rows, size, with_terms, seed):
    rng = np.random.default_rng(seed)
    n = 30
    affinity, items, quality = rng.normal(size=(rows, size)), rng.integers(0, n, (rows, size)), rng.normal(size=n)
    kinds = np.array([UTILITY_TERM_KINDS.index("mismatch")])
    traits, values = rng.normal(size=(rows, 1)), rng.normal(size=(n, 1))
    terms = (
        values,
        kinds,
        np.array([-1.0]),
        np.ones(1),
        np.full(1, 0.5),
        np.full(1, with_terms),  # the terms to use: without any, numpy added none
        traits,
        np.zeros(rows),
    )
    total = 0.7 * affinity + 1.3 * quality[items]
    if with_terms:
        total = total + (0.0 + -1.0 * np.abs(values[items, 0] - traits))
    expected = 1.0 / (1.0 + np.vectorize(math.exp)(-total))  # the C library's exp, as numba's
    for engagement in (engagements.serial, engagements.threaded):
        np.testing.assert_array_equal(engagement(affinity, items, quality, 0.7, 1.3, terms), expected)


def test_cascade_prefers_the_top_position():
    p = CHOICE_MODELS["cascade"](np.array([[0.0, 0.0]]), 0.0, 1.0)
    np.testing.assert_allclose(p[0], [0.5, 0.25, 0.25])


def test_kg_fusion_follows_the_formula():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((6, 3))
    topics = np.array([0, 0, 0, 1, 1, 1])
    kg = make_knowledge_graph(
        rng,
        vectors,
        topics,
        2,
        (EntitySpec("series", 2),),
        (
            RelationSpec("sequel", "series", fusion_weight=0.7, entity="series"),
            RelationSpec("similar", "similar", per_item=1, fusion_weight=0.2),
        ),
    )
    fused = fuse_vectors(vectors, kg, alpha=0.5, fusion_weights=np.array([0.7, 0.2]))
    for i in range(6):
        out = np.flatnonzero(kg.heads == i)
        expected = vectors[i] + 0.5 * sum(
            [0.7, 0.2][kg.relation_ids[e]] * kg.weights[e] * vectors[kg.tails[e]] / len(out) for e in out
        )
        np.testing.assert_allclose(fused[i], expected)
    np.testing.assert_allclose(fuse_vectors(vectors, kg, 0.0, np.array([0.7, 0.2])), vectors)
    assert kg.graph.number_of_edges() == 6 + len(kg.heads)  # has_series edges + relations


def test_catalog_is_seeded_and_marks_clickbait():
    kwargs = dict(num_items=300, num_topics=6, dim=4)
    a = make_catalog(np.random.default_rng(1), **kwargs)
    b = make_catalog(np.random.default_rng(1), **kwargs)
    np.testing.assert_array_equal(a.vectors, b.vectors)
    np.testing.assert_allclose(a.popularity.sum(), 1.0)
    bait = a.clickbait_topics[a.topics]
    assert a.appeal[bait].mean() > a.appeal[~bait].mean()
    assert a.quality[bait].mean() < a.quality[~bait].mean()


def test_tasks_are_seeded_and_splits_are_disjoint():
    assert sample_tasks("video", 5, seed=3) == sample_tasks("video", 5, seed=3)
    assert sample_tasks("video", 5, seed=3) != sample_tasks("video", 5, seed=4)
    splits = make_splits(["ecommerce", "video"], held_out_domain="video", num_cohorts=6)
    groups = [set(splits.train), set(splits.validation), set(splits.test_cohorts), set(splits.test_domain)]
    assert all(groups) and sum(map(len, groups)) == len(set().union(*groups))
    assert {t.domain for t in splits.test_domain} == {"video"}
    assert {t.domain for t in splits.train} == {"ecommerce"}
    with pytest.raises(ValueError, match="held_out_domain 'news'"):
        make_splits(["video"], held_out_domain="news")


def test_variants_are_extra_training_tasks_of_each_seen_domain():
    plain = make_splits(["ecommerce", "news", "video"], held_out_domain="video", num_cohorts=6)
    splits = make_splits(["ecommerce", "news", "video"], held_out_domain="video", num_cohorts=6, num_variants=5)
    assert set(plain.train) < set(splits.train)
    assert (splits.validation, splits.test_cohorts, splits.test_domain) == (
        plain.validation,
        plain.test_cohorts,
        plain.test_domain,
    )
    variants = [t for t in splits.train if t.variant]
    assert sorted((t.domain, t.variant) for t in variants) == [
        (d, v) for d in ("ecommerce", "news") for v in range(1, 6)
    ]
    cohorts = {dataclasses.replace(t, variant=0) for t in variants}
    assert cohorts <= set(plain.train)  # run by training cohorts
    with pytest.raises(ValueError, match="num_variants must be in \\[0, 1000\\]"):
        make_splits(["news"], num_variants=-1)


@pytest.mark.parametrize("variant", [-1, 1.5, True, "2"])
def test_bad_variant_is_rejected(variant):
    with pytest.raises(ValueError, match="Task.variant must be (an integer|>= 0)"):
        Task(domain="news", variant=variant)


@pytest.mark.parametrize("domain", DOMAINS)
def test_a_variant_keeps_the_items_and_redraws_the_users(domain):
    config = make_config(domain)
    base, variant = World(config, Task(domain)), World(config, Task(domain, variant=3))
    np.testing.assert_array_equal(base.item_features, variant.item_features)
    np.testing.assert_array_equal(base.kg.edge_list(), variant.kg.edge_list())
    assert domain_variant(config, 0) is config and base.config == config
    assert variant.config == domain_variant(config, 3) != config
    assert domain_variant(config, 3) != domain_variant(config, 4)
    changed = {f.name for f in dataclasses.fields(config) if getattr(config, f.name) != getattr(variant.config, f.name)}
    users = {"utility_terms", "engagement_affinity", "engagement_quality", "choice_temperature", "interest_std"}
    users |= {"satisfaction_affinity", "no_click_utility", "position_decay", "fatigue_rate", "kg_strength"}
    assert changed and changed <= users
    rng = np.random.default_rng(0)
    slates = np.tile(np.arange(config.slate_size), (256, 1))
    rewards = [w.step(np.random.default_rng(0), w.start(rng, 256), slates).reward.mean() for w in (base, variant)]
    assert rewards[0] != rewards[1]


def test_task_option_sets_the_world_and_stays():
    env = gym.make("recsim_meta/Ecommerce-v0")
    task = sample_tasks("ecommerce", 2, seed=0)[1]
    env.reset(seed=0, options={"task": task})
    assert env.unwrapped.task == task
    env.reset(seed=1)
    assert env.unwrapped.task == task
    other = Task(domain="ecommerce", catalogue_seed=5)
    env.reset(seed=1, options={"task": other})
    assert env.unwrapped.task == other
    assert not np.array_equal(
        env.unwrapped.catalog.vectors, gym.make("recsim_meta/Ecommerce-v0").unwrapped.catalog.vectors
    )


def test_repeated_slate_positions_are_empty_slots():
    env = gym.make("recsim_meta/Ecommerce-v0").unwrapped
    env.reset(seed=0)
    chosen = set()
    for seed in range(200):
        env.reset(seed=seed)
        _, _, _, _, info = env.step(np.array([3, 3, 3, 3]))
        chosen.add(info["position"])
    assert chosen <= {-1, 0}  # only the first copy can be clicked
    assert 0 in chosen


def test_consuming_an_item_changes_what_is_wanted_next_through_the_kg():
    """Ecommerce: after buying an item its complements gain utility and its substitutes lose it."""
    env = gym.make("recsim_meta/Ecommerce-v0").unwrapped
    env.reset(seed=0)
    world, sessions = env.world, env.sessions
    relations = world.kg.relations
    head = int(world.kg.heads[0])
    out = world.kg.heads == head
    complements = world.kg.tails[out & (world.kg.relation_ids == relations.index("complement"))]
    substitutes = world.kg.tails[out & (world.kg.relation_ids == relations.index("substitute"))]
    assert len(complements) and len(substitutes)
    items = np.concatenate([complements, substitutes])[None]
    before, _ = world.utilities(sessions, items)
    sessions.history_ids[0, -1] = head
    sessions.history_responses[0, -1, 0] = 1.0  # clicked
    after, _ = world.utilities(sessions, items)
    change = (after - before)[0]
    assert np.all(change[: len(complements)] > 0)
    assert np.all(change[len(complements) :] < 0)
    blind_before, _ = world.utilities(sessions, items, kg_aware=False)
    sessions.history_responses[0, -1, 0] = 0.0
    np.testing.assert_array_equal(blind_before, world.utilities(sessions, items, kg_aware=False)[0])
