"""Aggregate statistics: IQM, stratified bootstrap intervals that cover, probability of improvement, sign flips."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from recsim_meta.evaluation.statistics import (
    interquartile_mean,
    probability_of_improvement,
    probability_of_improvement_ci,
    sign_flip_p,
    stratified_bootstrap,
)


def test_interquartile_mean_cuts_the_outer_quarters():
    assert interquartile_mean(np.array([[0.0, 1.0, 2.0, 100.0]])) == 1.5
    assert interquartile_mean(np.arange(8.0)) == pytest.approx(np.mean([2, 3, 4, 5]))


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 6)), elements=st.floats(-1e3, 1e3)))
def test_interval_contains_the_statistic_and_lies_within_the_scores(scores):
    value, low, high = stratified_bootstrap(scores, repetitions=200)
    assert scores.min() - 1e-9 <= low <= value + 1e-9 and value - 1e-9 <= high <= scores.max() + 1e-9


@pytest.mark.parametrize("statistic", [np.mean, interquartile_mean])
def test_stratified_bootstrap_intervals_cover_the_true_value(statistic):
    """95 % intervals from 10 runs x 5 tasks of normal scores cover the true centre in about 95 % of trials."""
    rng = np.random.default_rng(0)
    centres = np.linspace(0, 2, 5)  # symmetric noise: the mean and the IQM have the same true value
    trials = 200
    covered = 0
    for trial in range(trials):
        scores = centres + rng.normal(size=(10, 5))
        _, low, high = stratified_bootstrap(scores, statistic, repetitions=500, seed=trial)
        covered += low <= centres.mean() <= high
    assert 0.86 <= covered / trials <= 0.99, covered / trials  # the percentile bootstrap runs a little narrow


def test_probability_of_improvement():
    rng = np.random.default_rng(1)
    same = rng.normal(size=(20, 4)), rng.normal(size=(20, 4))
    assert 0.35 < probability_of_improvement(*same) < 0.65
    better = rng.normal(size=(20, 4)) + 5
    assert probability_of_improvement(better, same[0]) == 1.0
    assert probability_of_improvement(np.ones((3, 2)), np.ones((5, 2))) == 0.5  # ties count half
    value, low, high = probability_of_improvement_ci(better - 4.5, same[0], repetitions=300)
    assert low <= value <= high and high > 0.5


def test_bad_score_matrices_are_named():
    with pytest.raises(ValueError, match="scores must be a non-empty \\(runs, tasks\\) matrix"):
        stratified_bootstrap(np.ones(3))
    with pytest.raises(ValueError, match="non-finite"):
        stratified_bootstrap(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="same tasks"):
        probability_of_improvement(np.ones((2, 3)), np.ones((2, 4)))


def test_sign_flip_p_counts_the_flips_at_least_as_far_above_zero():
    # 4 of the 32 flips of these seed means sum to at least 0.220: none, or one of 0.051, 0.033, -0.057 flipped
    assert sign_flip_p([0.051, -0.057, 0.033, 0.135, 0.058]) == 4 / 32
    assert sign_flip_p([1.0, 2.0, 3.0]) == 1 / 8  # all above zero: the smallest p three values give
    assert sign_flip_p([-1.0, -2.0]) == 1.0
    assert sign_flip_p(np.ones(30)) == 1 / (2**16 + 1)  # sampled flips above 16 values, the observed counted
    for bad in ([], [0.1, np.nan]):
        with pytest.raises(ValueError, match="finite values"):
            sign_flip_p(bad)


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, st.integers(1, 10), elements=st.floats(-10, 10)))
def test_sign_flip_p_is_a_probability_and_its_two_tails_cover_everything(values):
    up, down = sign_flip_p(values), sign_flip_p(-values)
    assert 2.0 ** -len(values) <= up <= 1 and up + down >= 1 - 1e-12  # P(T >= t) + P(T <= t) = 1 + P(T = t)
