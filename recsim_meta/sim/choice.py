"""Choice models as pure functions over a batch of slates.

Every function takes utilities of shape ``(..., K)`` (``-inf`` marks an empty slot) and returns
probabilities of shape ``(..., K + 1)``: one per slate position, the last one for "no click".
"""

from __future__ import annotations

import numpy as np

from recsim_meta.sim.kernels import choose_rows, mnl_rows


def mnl_probabilities(utilities: np.ndarray, no_click_utility: float, temperature: float) -> np.ndarray:
    """Multinomial logit over the slate plus a no-click option of utility ``no_click_utility``."""
    size = utilities.shape[-1]
    rows = np.ascontiguousarray(utilities, dtype=np.float64).reshape(-1, size)
    probabilities = mnl_rows(rows, float(no_click_utility), float(temperature))
    return probabilities.reshape(utilities.shape[:-1] + (size + 1,))


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
    return choose_rows(probabilities, rng.random(probabilities.shape[0]))
