"""Choice models over a batch of slates: multinomial logit (``mnl``), ``cascade`` and RecSim's ``proportional``.

``choice_probabilities`` takes utilities of shape ``(..., K)`` (``-inf`` marks an empty slot) and returns
probabilities of shape ``(..., K + 1)``: one per slate position, the last one for "no click". With ``mnl``
the user picks a position or no click by a softmax of ``temperature`` times the utilities (the no-click
option's utility ``no_click_utility``); with ``cascade`` the user scans the slate top-down and clicks
position ``k`` with ``sigmoid(temperature * (u_k - no_click_utility))``; with ``proportional`` (RecSim's
multinomial proportional model) the user picks an option in proportion to ``max(1 + temperature * u, 0)``,
the no-click option's ``u`` being ``no_click_utility``. All are compiled
(``kernels.choice_rows``), and the step's choice in a slate (``kernels.show_slates``) uses the same rows.
"""

from __future__ import annotations

import functools

import numpy as np

from recsim_meta.sim.kernels import CASCADE, MNL, PROPORTIONAL, choice_rows

CHOICE_CODES = {
    "mnl": MNL,
    "cascade": CASCADE,
    "proportional": PROPORTIONAL,
}  # the choice models, by name, as the compiled loops know them


def choice_probabilities(utilities: np.ndarray, no_click_utility: float, temperature: float, model: str) -> np.ndarray:
    """The choice ``model``'s probabilities ``(..., K + 1)`` of slates with ``utilities`` ``(..., K)``."""
    size = utilities.shape[-1]
    rows = np.ascontiguousarray(utilities, dtype=np.float64).reshape(-1, size)
    probabilities = choice_rows(rows, float(no_click_utility), float(temperature), CHOICE_CODES[model])
    return probabilities.reshape(utilities.shape[:-1] + (size + 1,))


CHOICE_MODELS = {name: functools.partial(choice_probabilities, model=name) for name in CHOICE_CODES}
