"""What a consumed item yields: the inputs a domain's response function sees, and its outputs.

A domain's response function has the signature ``respond(consumption, draw) -> Response``. It draws
its random outcomes through ``draw``: with :class:`Draw` they are sampled, with :class:`Expectation`
they are replaced by their means, so the same function gives the oracle its expected reward.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Consumption(NamedTuple):
    """A batch of consumed items and their users, every array of shape ``(B,)``.

    Attributes:
        attributes: the items' domain attributes (price, length, ...).
        quality: latent item quality.
        affinity: ``interest . v~_i`` plus KG boosts, how much the user wants the item now.
        engagement: ``sigmoid(a * affinity + b * quality)`` in (0, 1), how much the user liked it.
        traits: the users' traits (price sensitivity, ...).
        budget: the users' remaining time budget before this step.
    """

    attributes: dict[str, np.ndarray]
    quality: np.ndarray
    affinity: np.ndarray
    engagement: np.ndarray
    traits: dict[str, np.ndarray]
    budget: np.ndarray


class Response(NamedTuple):
    """Outcome of consumption, arrays of shape ``(B,)``.

    Attributes:
        reward: the domain's reward.
        time: time the consumption takes from the user's budget (minutes or steps).
        signals: named domain signals (purchase, watch_time, ...) reported in ``info``.
    """

    reward: np.ndarray
    time: np.ndarray
    signals: dict[str, np.ndarray]


class Draw:
    """Samples random outcomes from a generator."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def bernoulli(self, p: np.ndarray) -> np.ndarray:
        return (self.rng.random(np.shape(p)) < p).astype(np.float64)

    def normal(self, mean: np.ndarray, std: np.ndarray | float) -> np.ndarray:
        return mean + std * self.rng.standard_normal(np.shape(mean))


class Expectation:
    """Replaces random outcomes by their means (for oracles and greedy models)."""

    def bernoulli(self, p: np.ndarray) -> np.ndarray:
        return np.asarray(p, dtype=np.float64)

    def normal(self, mean: np.ndarray, std: np.ndarray | float) -> np.ndarray:
        return np.asarray(mean, dtype=np.float64)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))
