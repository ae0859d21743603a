"""The planning oracle: slates that maximise the session's expected return, not the step's.

A session lasts as long as the user's time budget (or until the user churns), so what a click spends of the
budget is reward lost later. The planning oracle prices it: a user left with budget ``b`` is worth
``price * b`` of future reward, so a candidate is worth its expected reward now plus the price of the budget
the user keeps after consuming it, net of the time it takes, the satisfaction refund it earns and the risk
that the user churns; a slate without a click keeps the budget less the no-click cost. Each slate is built
greedily, slot by slot, to maximise that value under the true choice model (``World.best_slates``, the
myopic oracle's builder): with ``price`` 0 it is the myopic oracle.

One ``price`` per task (per env id's default task), in reward per unit of budget, is chosen by a search on
validation users and shipped with the reference scores (``recsim_meta.evaluation.references``). Like the
myopic oracle it reads the true latent state (``env.unwrapped``), which agents may not; a decision costs what
the myopic oracle's costs plus a few array operations (the reference-score command prints both).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from recsim_meta.agents.baselines import as_action, ground_truth
from recsim_meta.envs.world import Sessions, World
from recsim_meta.sim.tasks import Task


def planned_slates(world: World, sessions: Sessions, price: float) -> np.ndarray:
    """The planning oracle's slates ``(B, K)`` of candidate positions for every session of ``sessions``.

    Args:
        world: the sessions' world (catalogue, dynamics).
        sessions: the sessions (read only).
        price: the value of one unit of remaining time budget, in reward; 0 gives the myopic oracle.
    """
    if not price >= 0:
        raise ValueError(f"price must be a number >= 0, got {price!r}")
    expected = world.expected_outcomes(sessions)
    if price == 0:
        return world.best_slates(expected.utility, expected.reward, np.zeros(len(sessions.steps)), expected.penalty)
    config, dynamics, users = world.config, world.dynamics, sessions.users
    satisfaction = users.satisfaction[:, None]
    received = world.catalog.quality[sessions.candidates] + config.satisfaction_affinity * expected.affinity
    satisfied = satisfaction + dynamics.satisfaction_rate * (received - satisfaction)  # after the click
    spent = expected.time - dynamics.budget_refund * expected.time * satisfied
    kept = np.maximum(users.budget[:, None] - spent, 0.0)
    stays = 1.0 - config.churn_rate * (1.0 - expected.engagement)
    value = expected.reward + price * stays * kept
    no_click = price * (1.0 - config.churn_rate) * np.maximum(users.budget - dynamics.no_click_cost, 0.0)
    return world.best_slates(expected.utility, value, no_click, expected.penalty)


class PlanningOracle:
    """The planning oracle (an upper reference): reads the true latent state through ``env.unwrapped``.

    Works in a single env (``RecEnv``, ``MultiDomainEnv``) and in the native vector env (``RecVectorEnv``:
    one action per user from one batched call).

    Args:
        env: the environment it acts in (it must be the one being stepped).
        price: the value of a unit of remaining time budget (``planned_slates``), or a function giving it for the
            task the env runs (``MultiDomain-v0`` changes task every episode); the reference scores give each
            task's (``recsim_meta.evaluation.references.planning_price``).
    """

    def __init__(self, env: gym.Env | gym.vector.VectorEnv, price: float | Callable[[Task], float]) -> None:
        if not callable(price) and not (
            isinstance(price, (int, float, np.integer, np.floating)) and np.isfinite(price) and price >= 0
        ):
            raise ValueError(f"price must be a finite number >= 0 or a function of the task, got {price!r}")
        self.env = env.unwrapped
        self.action_space = getattr(env, "single_action_space", env.action_space)
        self.price = price if callable(price) else float(price)

    def predict(
        self,
        observation: dict[str, np.ndarray],
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray | int, None]:
        world, sessions = ground_truth(self.env)
        price = self.price(world.task) if callable(self.price) else self.price
        return as_action(planned_slates(world, sessions, price), self.action_space, observation), None
