"""Run a policy for whole episodes and collect per-episode statistics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import gymnasium as gym
import numpy as np
from tqdm.auto import tqdm

from recsim_meta.envs import MultiDomainEnv
from recsim_meta.sim.tasks import Task, sample_tasks


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

    @staticmethod
    def concatenate(parts: list[EpisodeStats]) -> EpisodeStats:
        return EpisodeStats(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("returns", "lengths", "clicks")))


def run_episodes(
    env: gym.Env,
    policy: Policy,
    episodes: int,
    seed: int = 0,
    options: dict[str, Any] | None = None,
    on_step: Callable[[dict[str, np.ndarray], Any], None] | None = None,
    progress: str | None = None,
) -> EpisodeStats:
    """Run ``episodes`` episodes, episode ``e`` reset with seed ``seed + e``; ``on_step(observation, action)``
    sees every decision (e.g. ``SlateMetrics``); ``progress`` names a progress bar over the episodes."""
    returns, lengths, clicks = np.zeros(episodes), np.zeros(episodes, dtype=np.int64), np.zeros(episodes)
    for episode in tqdm(range(episodes), desc=progress, disable=progress is None, leave=False):
        observation, _ = env.reset(seed=seed + episode, options=options)
        done = False
        while not done:
            action, _ = policy.predict(observation, deterministic=True)
            if on_step is not None:
                on_step(observation, action)
            observation, reward, terminated, truncated, info = env.step(action)
            returns[episode] += reward
            lengths[episode] += 1
            clicks[episode] += info["clicked"]
            done = terminated or truncated
    return EpisodeStats(returns, lengths, clicks)


def run_users(
    envs: gym.vector.VectorEnv, policy: Policy, seed: int = 0, options: dict[str, Any] | None = None
) -> EpisodeStats:
    """One episode of each user of a native vector env (``gym.make_vec``), all stepped together: reset with
    ``seed`` (and ``options``), then ``policy.predict`` acts for every user at once until every user's first
    episode has ended (the steps after a user's end, of its next episode, are not counted)."""
    observation, _ = envs.reset(seed=seed, options=options)
    users = envs.num_envs
    returns, lengths, clicks = np.zeros(users), np.zeros(users, dtype=np.int64), np.zeros(users)
    done = np.zeros(users, dtype=bool)
    while not done.all():
        action, _ = policy.predict(observation, deterministic=True)
        observation, reward, terminated, truncated, info = envs.step(action)
        running = ~done
        returns += np.where(running, reward, 0.0)
        lengths += running
        clicks += running & info["clicked"]
        done |= terminated | truncated
    return EpisodeStats(returns, lengths, clicks)


def run_on_tasks(
    env: gym.Env, make_policy: Callable[[gym.Env], Policy], tasks: list[Any], episodes: int, seed: int = 0
) -> EpisodeStats:
    """``episodes`` episodes spread evenly over ``tasks``; task ``i`` uses seeds from ``seed + 1000 * i``.

    Fixed seeds make runs of different policies paired: the same users meet each policy. A task of
    ``None`` runs the env's own task choice (``MultiDomain-v0`` draws one from its seed).
    """
    per_task = episodes // len(tasks)
    return EpisodeStats.concatenate(
        [
            run_episodes(env, make_policy(env), per_task, seed + 1000 * i, None if task is None else {"task": task})
            for i, task in enumerate(tasks)
        ]
    )


def evaluation_tasks(env: gym.Env, num_tasks: int, seed: int = 0) -> list[Task | None]:
    """``num_tasks`` cohorts of a domain env's domain, or ``None`` (its own draw) for ``MultiDomain-v0``."""
    if isinstance(env.unwrapped, MultiDomainEnv):
        return [None] * num_tasks
    return sample_tasks(env.unwrapped.config.name, num_tasks, seed)


def mean_ci(values: np.ndarray, z: float = 1.96) -> tuple[float, float, float]:
    """Mean and its normal-approximation 95 % confidence interval ``(mean, low, high)``."""
    mean = float(np.mean(values))
    half = z * float(np.std(values, ddof=1)) / np.sqrt(len(values)) if len(values) > 1 else 0.0
    return mean, mean - half, mean + half
