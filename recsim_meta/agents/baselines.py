"""Reference policies with an SB3-like ``predict``: random, popularity and the myopic oracle."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np


def top_k_action(scores: np.ndarray, action_space: gym.Space) -> np.ndarray | int:
    """The ``K`` highest-scoring candidate positions as an action of ``action_space``."""
    if isinstance(action_space, gym.spaces.Discrete):
        return int(np.argmax(scores))
    k = len(action_space.nvec)
    return np.argsort(-scores, kind="stable")[:k].astype(np.int64)


class RandomPolicy:
    """Recommends ``K`` distinct random candidates."""

    def __init__(self, env: gym.Env, seed: int | None = None) -> None:
        self.action_space = env.action_space
        self.rng = np.random.default_rng(seed)

    def predict(
        self,
        observation: dict[str, np.ndarray],
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray | int, None]:
        scores = self.rng.random(len(observation["candidate_ids"]))
        return top_k_action(scores, self.action_space), None


class PopularityPolicy:
    """Recommends the most popular candidates (the ``log_popularity`` feature of the observation)."""

    def __init__(self, env: gym.Env) -> None:
        self.action_space = env.action_space
        self.num_features = len(env.unwrapped.feature_names)
        self.column = env.unwrapped.feature_names.index("log_popularity")

    def predict(
        self,
        observation: dict[str, np.ndarray],
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray | int, None]:
        features = observation["candidate_features"].reshape(-1, self.num_features)
        return top_k_action(features[:, self.column], self.action_space), None


class OraclePolicy:
    """The myopic oracle: reads the true latent state through ``env.unwrapped`` (an upper reference).

    Args:
        env: the environment it acts in (it must be the one being stepped).
        objective: ``"reward"`` for the best expected immediate reward, ``"click"`` for a clickbait chaser.
        kg_aware: ``False`` gives the same oracle blind to the knowledge graph (alpha = 0, no boosts).
    """

    def __init__(self, env: gym.Env, objective: str = "reward", kg_aware: bool = True) -> None:
        self.env = env.unwrapped
        self.objective = objective
        self.kg_aware = kg_aware

    def predict(
        self,
        observation: dict[str, np.ndarray],
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray | int, None]:
        return self.env.oracle_slate(self.objective, self.kg_aware), None


BASELINES: dict[str, Callable[[gym.Env, int | None], RandomPolicy | PopularityPolicy | OraclePolicy]] = {
    "random": lambda env, seed: RandomPolicy(env, seed),
    "popularity": lambda env, seed: PopularityPolicy(env),
    "oracle": lambda env, seed: OraclePolicy(env),
    "kg_blind_oracle": lambda env, seed: OraclePolicy(env, kg_aware=False),
    "click_chaser": lambda env, seed: OraclePolicy(env, objective="click"),
}
"""Reference policies by name: ``BASELINES[name](env, seed)``."""
