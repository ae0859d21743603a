"""Meta-gradient hyperparameters (after Xu, van Hasselt and Silver, 2018): the derivative of a validation
objective in the hyperparameters of the loss it is trained with, through one gradient step.

With ``meta_hyperparameters=True`` the meta-RL agent's loss weights (``value_coef``, ``entropy_coef``,
``aux_coef``) and discount ``gamma`` are meta-parameters ``eta`` (log weights, logit discount; the settings give
their initial values). Each iteration differentiates its first PPO epoch's gradient ``g(eta)`` in them
(``sensitivities``, through ``create_graph``); after the epochs, episodes of validation tasks give the
policy-gradient objective ``J`` at the updated parameters (with the settings' fixed discount), and the
hyperparameters take an Adam step along ``dJ/deta = -sum_p lr_p <grad_p J, dg_p/deta>``
(``hyperparameter_gradients``): the derivative of ``J(theta - lr * g(eta))`` for a plain gradient step, as the
method approximates Adam's.
"""

from __future__ import annotations

import torch


def sensitivities(
    total: torch.Tensor, hyperparameters: list[torch.Tensor], parameters: list[torch.Tensor]
) -> list[tuple[torch.Tensor | None, ...]]:
    """``dg/deta_k`` for every hyperparameter ``eta_k``, ``g`` the gradient of the loss ``total`` (built with
    the hyperparameters as tensors) in ``parameters``: the gradient in the parameters of ``d total / d eta_k``
    (``None`` where it does not depend on them). Keeps ``total``'s graph."""
    slopes = torch.autograd.grad(total, hyperparameters, create_graph=True)
    return [torch.autograd.grad(slope, parameters, retain_graph=True, allow_unused=True) for slope in slopes]


def hyperparameter_gradients(
    sensitivities: list[tuple[torch.Tensor | None, ...]],
    objective: torch.Tensor,
    parameters: list[torch.Tensor],
    rates: list[float],
) -> list[torch.Tensor]:
    """``d objective(theta - rates * g(eta)) / d eta_k = -sum_p rates_p <grad_p objective, dg_p/deta_k>``, with
    ``objective`` computed at the updated ``parameters``."""
    updated = torch.autograd.grad(objective, parameters, allow_unused=True)
    return [
        -sum(
            (
                rate * (u * d).sum()
                for rate, d, u in zip(rates, sensitivity, updated, strict=True)
                if d is not None and u is not None
            ),
            objective.new_zeros(()),
        )
        for sensitivity in sensitivities
    ]
