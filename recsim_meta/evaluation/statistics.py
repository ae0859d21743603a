"""Aggregate statistics over runs, as ``rliable`` computes them (Agarwal et al., 2021), in numpy.

Scores are ``(runs, tasks)`` matrices: one row per seed, one column per task. Confidence intervals come
from the stratified bootstrap: runs are resampled with replacement within each task (column), the
statistic is recomputed on each resample, and the interval is its percentile range.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def interquartile_mean(scores: np.ndarray) -> float:
    """Mean of the middle 50 % of all scores (the lowest and highest quarter cut, as ``scipy.stats.trim_mean``)."""
    values = np.sort(np.asarray(scores, dtype=np.float64).ravel())
    if values.size == 0:
        raise ValueError("interquartile_mean needs at least one score")
    cut = int(0.25 * values.size)
    return float(values[cut : values.size - cut].mean())


def _as_matrix(scores: np.ndarray, name: str) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or 0 in scores.shape:
        raise ValueError(f"{name} must be a non-empty (runs, tasks) matrix, got shape {scores.shape}")
    if not np.isfinite(scores).all():
        raise ValueError(f"{name} has non-finite scores")
    return scores


def stratified_bootstrap(
    scores: np.ndarray,
    statistic: Callable[[np.ndarray], float] = interquartile_mean,
    repetitions: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """``(statistic, low, high)``: the statistic of ``scores`` ``(runs, tasks)`` and its percentile
    confidence interval over ``repetitions`` stratified bootstrap resamples."""
    scores = _as_matrix(scores, "scores")
    rng = np.random.default_rng(seed)
    runs, tasks = scores.shape
    rows = rng.integers(runs, size=(repetitions, runs, tasks))
    resampled = np.take_along_axis(scores[None].repeat(repetitions, 0), rows, axis=1)
    values = np.array([statistic(sample) for sample in resampled])
    tail = (1 - confidence) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return float(statistic(scores)), float(low), float(high)


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> float:
    """``P(X > Y)`` averaged over tasks: for each task the share of run pairs where ``x`` beats ``y``
    (ties count half), the Mann-Whitney U statistic over ``runs_x * runs_y``."""
    x, y = _as_matrix(x, "x"), _as_matrix(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must cover the same tasks, got {x.shape[1]} and {y.shape[1]} columns")
    wins = (x[:, None, :] > y[None, :, :]).mean(axis=(0, 1))
    ties = (x[:, None, :] == y[None, :, :]).mean(axis=(0, 1))
    return float(np.mean(wins + 0.5 * ties))


def probability_of_improvement_ci(
    x: np.ndarray, y: np.ndarray, repetitions: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """``probability_of_improvement`` with a stratified bootstrap interval (each side's runs resampled per task)."""
    x, y = _as_matrix(x, "x"), _as_matrix(y, "y")
    rng = np.random.default_rng(seed)
    values = np.empty(repetitions)
    for r in range(repetitions):
        xs = np.take_along_axis(x, rng.integers(len(x), size=x.shape), axis=0)
        ys = np.take_along_axis(y, rng.integers(len(y), size=y.shape), axis=0)
        values[r] = probability_of_improvement(xs, ys)
    tail = (1 - confidence) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return probability_of_improvement(x, y), float(low), float(high)


def sign_flip_p(values: np.ndarray, exact_up_to: int = 16, samples: int = 2**16, seed: int = 0) -> float:
    """One-sided p-value that the mean of ``values`` is above zero: the share of sign flips of ``values``
    whose mean is at least the observed one. A randomisation test for a null that is symmetric about zero
    (e.g. the per-seed mean differences of two methods tested on the same users): all ``2**n`` flips up to
    ``exact_up_to`` values (so the p-value is at least ``2**-n``), ``samples`` random ones (and the observed) above."""
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0 or not np.isfinite(values).all():
        raise ValueError(f"sign_flip_p needs one or more finite values, got {values}")
    observed = values.sum() - 1e-12
    if values.size <= exact_up_to:
        signs = 1 - 2 * ((np.arange(2**values.size)[:, None] >> np.arange(values.size)) & 1)
        return float(np.mean(signs @ values >= observed))
    signs = np.random.default_rng(seed).choice([-1, 1], size=(samples, values.size))
    return float((np.sum(signs @ values >= observed) + 1) / (samples + 1))  # the observed signs count too
