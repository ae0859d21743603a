"""Choice models as pure functions over a batch of slates.

Every function takes utilities of shape ``(..., K)`` (``-inf`` marks an empty slot) and returns
probabilities of shape ``(..., K + 1)``: one per slate position, the last one for "no click".
"""

from __future__ import annotations

import numpy as np


def mnl_probabilities(utilities: np.ndarray, no_click_utility: float, temperature: float) -> np.ndarray:
    """Multinomial logit over the slate plus a no-click option of utility ``no_click_utility``."""
    scores = np.empty(utilities.shape[:-1] + (utilities.shape[-1] + 1,))
    scores[..., :-1] = utilities
    scores[..., -1] = no_click_utility
    scores *= temperature
    scores = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores)
    return weights / weights.sum(axis=-1, keepdims=True)


def cascade_probabilities(utilities: np.ndarray, no_click_utility: float, temperature: float) -> np.ndarray:
    """Cascade: the user scans the slate top-down and clicks position ``k`` with ``sigmoid(t * (u_k - u_0))``."""
    with np.errstate(over="ignore"):
        click = 1.0 / (1.0 + np.exp(-temperature * (utilities - no_click_utility)))
    survive = np.cumprod(1.0 - click, axis=-1)
    reach = np.concatenate([np.ones(utilities.shape[:-1] + (1,)), survive[..., :-1]], axis=-1)
    return np.concatenate([reach * click, survive[..., -1:]], axis=-1)


CHOICE_MODELS = {"mnl": mnl_probabilities, "cascade": cascade_probabilities}


def sample_choice(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """Draw one option per row of ``(B, K + 1)`` probabilities; ``K`` means no click."""
    draws = rng.random((probabilities.shape[0], 1))
    choice = (np.cumsum(probabilities, axis=-1) < draws).sum(axis=-1)
    return np.minimum(choice, probabilities.shape[-1] - 1)
