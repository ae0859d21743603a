"""Choice models as pure functions over a batch of slates.

Every function takes utilities of shape ``(..., K)`` (``-inf`` marks an empty slot) and returns
probabilities of shape ``(..., K + 1)``: one per slate position, the last one for "no click".
"""

from __future__ import annotations

import numpy as np

from recsim_meta.sim.kernels import cascade_rows, mnl_rows


def mnl_probabilities(utilities: np.ndarray, no_click_utility: float, temperature: float) -> np.ndarray:
    """Multinomial logit over the slate plus a no-click option of utility ``no_click_utility``."""
    return _compiled_rows(mnl_rows, utilities, no_click_utility, temperature)


def _compiled_rows(kernel, utilities: np.ndarray, no_click_utility: float, temperature: float) -> np.ndarray:
    size = utilities.shape[-1]
    rows = np.ascontiguousarray(utilities, dtype=np.float64).reshape(-1, size)
    probabilities = kernel(rows, float(no_click_utility), float(temperature))
    return probabilities.reshape(utilities.shape[:-1] + (size + 1,))


def cascade_probabilities(utilities: np.ndarray, no_click_utility: float, temperature: float) -> np.ndarray:
    """Cascade: the user scans the slate top-down and clicks position ``k`` with ``sigmoid(t * (u_k - u_0))``."""
    return _compiled_rows(cascade_rows, utilities, no_click_utility, temperature)


CHOICE_MODELS = {"mnl": mnl_probabilities, "cascade": cascade_probabilities}
