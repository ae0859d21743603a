"""Run a policy for whole episodes and collect per-episode statistics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import gymnasium as gym
import numpy as np


class Policy(Protocol):
    def predict(
        self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = True
    ) -> tuple[Any, Any]: ...


@dataclass(frozen=True)
class EpisodeStats:
    """Per-episode arrays of shape ``(episodes,)``: return, session length and clicks."""

    returns: np.ndarray
    lengths: np.ndarray
    clicks: np.ndarray

    @property
    def ctr(self) -> np.ndarray:
        return self.clicks / np.maximum(self.lengths, 1)


def run_episodes(
    env: gym.Env, policy: Policy, episodes: int, seed: int = 0, options: dict[str, Any] | None = None
) -> EpisodeStats:
    """Run ``episodes`` episodes, episode ``e`` reset with seed ``seed + e``."""
    returns, lengths, clicks = np.zeros(episodes), np.zeros(episodes, dtype=np.int64), np.zeros(episodes)
    for episode in range(episodes):
        observation, _ = env.reset(seed=seed + episode, options=options)
        done = False
        while not done:
            action, _ = policy.predict(observation, deterministic=True)
            observation, reward, terminated, truncated, info = env.step(action)
            returns[episode] += reward
            lengths[episode] += 1
            clicks[episode] += info["clicked"]
            done = terminated or truncated
    return EpisodeStats(returns, lengths, clicks)


def mean_ci(values: np.ndarray, z: float = 1.96) -> tuple[float, float, float]:
    """Mean and its normal-approximation 95 % confidence interval ``(mean, low, high)``."""
    mean = float(np.mean(values))
    half = z * float(np.std(values, ddof=1)) / np.sqrt(len(values)) if len(values) > 1 else 0.0
    return mean, mean - half, mean + half
