"""Reference policies with an SB3-like ``predict``: random, popularity and the myopic oracle.

Each acts for one user (a single env's observation) or for every user of a native vector env at once (its
batched observation; the oracles read the vector env's sessions).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np


def top_k_action(scores: np.ndarray, action_space: gym.Space) -> np.ndarray | int:
    """The ``K`` highest-scoring candidate positions as an action of ``action_space`` (the single env's): for
    scores ``(M,)`` one action, for ``(B, M)`` one per row (``(B,)`` for ``Discrete``, else ``(B, K)``)."""
    k = 1 if isinstance(action_space, gym.spaces.Discrete) else len(action_space.nvec)
    slates = np.argsort(-scores, axis=-1, kind="stable")[..., :k].astype(np.int64)
    return as_action(slates, action_space, batched=scores.ndim == 2)


def as_action(slates: np.ndarray, action_space: gym.Space, observation: Any = None, batched: bool | None = None):
    """Slates of candidate positions ``(B, K)`` (or ``(K,)``) as the action of ``action_space`` (the single
    env's): one action when the ``observation`` (or ``batched``) is a single user's, else one per user."""
    if batched is None:
        batched = np.ndim(observation["candidate_ids"]) == 2
    slates = np.asarray(slates, dtype=np.int64).reshape(-1, slates.shape[-1])
    if isinstance(action_space, gym.spaces.Discrete):
        return slates[:, 0] if batched else int(slates[0, 0])
    return slates if batched else slates[0]


def ground_truth(env: Any) -> tuple[Any, Any]:
    """The ``World`` and ``Sessions`` of an unwrapped env: ``RecEnv`` or ``MultiDomainEnv`` (one session) or
    ``RecVectorEnv`` (one per user); what oracles read and agents may not."""
    if getattr(env, "sessions", None) is None or not hasattr(env, "world"):
        raise RuntimeError(
            f"{type(env).__name__} offers no ground truth to an oracle here: it needs a RecEnv, MultiDomainEnv or "
            "RecVectorEnv that has been reset"
        )
    return env.world, env.sessions


class RandomPolicy:
    """Recommends ``K`` distinct random candidates (for every user of a batch of observations)."""

    def __init__(self, env: gym.Env | gym.vector.VectorEnv, seed: int | None = None) -> None:
        self.action_space = getattr(env, "single_action_space", env.action_space)
        self.rng = np.random.default_rng(seed)

    def predict(
        self,
        observation: dict[str, np.ndarray],
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray | int, None]:
        scores = self.rng.random(np.shape(observation["candidate_ids"]))
        return top_k_action(scores, self.action_space), None


class PopularityPolicy:
    """Recommends the most popular candidates (the ``log_popularity`` feature of the observation)."""

    def __init__(self, env: gym.Env | gym.vector.VectorEnv) -> None:
        self.action_space = getattr(env, "single_action_space", env.action_space)
        self.num_features = len(env.unwrapped.feature_names)
        self.column = env.unwrapped.feature_names.index("log_popularity")

    def predict(
        self,
        observation: dict[str, np.ndarray],
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray | int, None]:
        ids = np.asarray(observation["candidate_ids"])
        features = observation["candidate_features"].reshape(*ids.shape, self.num_features)
        return top_k_action(features[..., self.column], self.action_space), None


class OraclePolicy:
    """The myopic oracle: reads the true latent state through ``env.unwrapped`` (an upper reference).

    Args:
        env: the environment it acts in (it must be the one being stepped): a single env or ``RecVectorEnv``.
        objective: ``"reward"`` for the best expected immediate reward, ``"click"`` for a clickbait chaser.
        kg_aware: ``False`` gives the same oracle blind to the knowledge graph (alpha = 0, no boosts).
    """

    def __init__(self, env: gym.Env | gym.vector.VectorEnv, objective: str = "reward", kg_aware: bool = True) -> None:
        if objective not in ("reward", "click"):
            raise ValueError(f"unknown objective {objective!r}; accepted: reward, click")
        self.env = env.unwrapped
        self.action_space = getattr(env, "single_action_space", env.action_space)
        self.objective = objective
        self.kg_aware = kg_aware

    def predict(
        self,
        observation: dict[str, np.ndarray],
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray | int, None]:
        world, sessions = ground_truth(self.env)
        slates = world.oracle_slates(sessions, self.objective, self.kg_aware)
        return as_action(slates, self.action_space, observation), None


BASELINES: dict[str, Callable[[gym.Env, int | None], RandomPolicy | PopularityPolicy | OraclePolicy]] = {
    "random": lambda env, seed: RandomPolicy(env, seed),
    "popularity": lambda env, seed: PopularityPolicy(env),
    "oracle": lambda env, seed: OraclePolicy(env),
    "kg_blind_oracle": lambda env, seed: OraclePolicy(env, kg_aware=False),
    "click_chaser": lambda env, seed: OraclePolicy(env, objective="click"),
}
"""Reference policies by name: ``BASELINES[name](env, seed)``. The planning oracle needs its task's price
(``recsim_meta.evaluation.references.reference_policy`` makes every one of them, it too)."""
