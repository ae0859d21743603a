"""Batched experience for any model-backed policy: many users of many tasks step together in the native vector
envs, and the model acts for all of them in one forward pass per step.

``Collector.collect(actor, runs, states)`` runs each ``TaskRun`` (a task, its number of users, episodes per
user and seed) in a ``RecVectorEnv`` of its own (built per collection, its world from ``world_for``'s cache),
in the layout of the actor's env (``MultiDomain-v0``'s padded one, or a domain env's own). Every
step it stacks the observations of the users still running across all runs, asks the actor for their slates
once, and steps every run's env. A user plays its episodes one after the other (same-step autoreset); a run's
users share its ``TaskState`` (the in-context memory and any adapted parameters), and with ``remember`` every
finished episode's interactions, step by step, go into that memory. The result is one ``Rollout`` in time order.

Collection knows the policy only through ``Actor`` (act on a batch of observations, remember an episode); it
imports no agent, and agents import it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import gymnasium as gym
import numpy as np
import torch

from recsim_meta.agents.rollouts import Rollout, TaskState, concat_rollouts
from recsim_meta.envs import MultiDomainEnv, RecVectorEnv
from recsim_meta.envs.domains import config_overrides
from recsim_meta.envs.world import RESPONSE_COLUMNS
from recsim_meta.sim.tasks import Task

RESPONSES = len(RESPONSE_COLUMNS)  # columns per interaction in ``history_responses``


@dataclass(frozen=True)
class ActedStep:
    """What an actor did for a batch of observations: its model inputs and, per row, the slate ``(N, K)``, the
    slate's log-probability and the value estimate."""

    batch: Any
    slate: torch.Tensor
    log_prob: torch.Tensor
    value: torch.Tensor


class Actor(Protocol):
    def act_batch(
        self,
        observations: dict[str, np.ndarray],
        domains: list[str],
        states: list[TaskState],
        slots: np.ndarray,
        deterministic: bool,
    ) -> ActedStep:
        """Slates for observations ``(N, ...)`` of ``domains`` (one per row); row ``i`` runs with
        ``states[slots[i]]``."""
        ...

    def remember(self, state: TaskState, item_ids: np.ndarray, responses: np.ndarray, domain: str) -> None:
        """Put an episode's interactions in ``domain`` (item ids ``(T,)``, responses ``(T, 3)``, in time order)
        into ``state``'s memory."""
        ...


@dataclass(frozen=True)
class TaskRun:
    """A task to collect: ``users`` users stepped together, each playing ``episodes`` episodes in turn, from one
    generator seeded ``seed`` (the same seed meets the same first users)."""

    task: Task
    users: int = 1
    episodes: int = 1
    seed: int = 0


class Collector:
    """Collects ``TaskRun`` s in the layout of ``env`` (``MultiDomain-v0``, or a domain env) with native vector
    envs, built per collection: building one takes about 3 ms, its world comes from ``world_for``'s bounded cache."""

    def __init__(self, env: gym.Env) -> None:
        self.layout = env.unwrapped
        self.padded = isinstance(self.layout, MultiDomainEnv)

    def config_of(self, domain: str):
        return self.layout.envs[domain].config if self.padded else self.layout.config

    def vector_env(self, task: Task, users: int) -> RecVectorEnv:
        config = self.config_of(task.domain)
        return RecVectorEnv(users, config.name, autoreset_mode="same_step", task=task, **config_overrides(config))

    def observations(self, observation: dict[str, np.ndarray], domain: str) -> dict[str, np.ndarray]:
        """A vector env's observations in the collector's layout."""
        return self.layout.padded(observation, domain) if self.padded else observation

    @torch.no_grad()
    def collect(
        self,
        actor: Actor,
        runs: Sequence[TaskRun],
        states: list[TaskState],
        deterministic: bool = False,
        remember: bool = True,
    ) -> Rollout:
        """Every run's users play their episodes, acting through ``actor`` with ``states[i]`` for run ``i``."""
        if len(states) != len(runs):
            raise ValueError(f"need one task state per run: {len(states)} states for {len(runs)} runs")
        envs = [self.vector_env(run.task, run.users) for run in runs]
        current = [
            self.observations(env.reset(seed=run.seed, options={"task": run.task})[0], run.task.domain)
            for env, run in zip(envs, runs, strict=True)
        ]
        finished = [np.zeros(run.users, dtype=np.int64) for run in runs]
        traces = [EpisodeTrace(run.users) for run in runs]  # each user's interactions in its current episode
        steps: list[Rollout] = []
        while True:
            active = [np.flatnonzero(done < run.episodes) for done, run in zip(finished, runs, strict=True)]
            if not any(len(users) for users in active):
                break
            slots = np.concatenate([np.full(len(users), i) for i, users in enumerate(active)])
            rows = np.concatenate(active)
            stacked = {
                key: np.concatenate([obs[key][users] for obs, users in zip(current, active, strict=True)])
                for key in current[0]
            }
            domains = [runs[slot].task.domain for slot in slots]
            acted = actor.act_batch(stacked, domains, states, slots, deterministic)
            slates = acted.slate.cpu().numpy().astype(np.int64)
            rewards, positions, engagements, ends, episodes = [], [], [], [], []
            for i, (env, run, users) in enumerate(zip(envs, runs, active, strict=True)):
                if not len(users):
                    continue
                actions = np.zeros((run.users, slates.shape[1]), dtype=np.int64)
                actions[users] = slates[slots == i]
                if env.single_action_space.shape == ():  # Discrete: one position per user
                    actions = actions[:, 0]
                observation, reward, terminated, truncated, info = env.step(actions)
                ended = terminated | truncated
                item = observation["history_ids"][:, -1].copy()  # the interaction just recorded
                responses = observation["history_responses"][:, -RESPONSES:].copy()
                for user in np.flatnonzero(ended):
                    item[user] = info["final_obs"][user]["history_ids"][-1]
                    responses[user] = info["final_obs"][user]["history_responses"][-RESPONSES:]
                if remember:
                    traces[i].record(users, item, responses)
                    for user in np.flatnonzero(ended[users]):
                        actor.remember(states[i], *traces[i].pop(users[user]), run.task.domain)
                rewards.append(reward[users])
                positions.append(info["position"][users])
                engagements.append(responses[users, -1])  # the engagement column
                ends.append(ended[users])
                episodes.append(users * run.episodes + finished[i][users])
                finished[i] = finished[i] + ended
                current[i] = self.observations(observation, run.task.domain)
            steps.append(
                Rollout(
                    batch=acted.batch,
                    slot=slots,
                    episode=np.concatenate(episodes),
                    slate=acted.slate,
                    log_prob=acted.log_prob,
                    value=acted.value,
                    reward=np.concatenate(rewards).astype(np.float64),
                    position=np.concatenate(positions).astype(np.int64),
                    engagement=np.concatenate(engagements).astype(np.float32),
                    episode_end=np.concatenate(ends),
                    user=rows,
                )
            )
        return concat_rollouts(steps)


class EpisodeTrace:
    """The interactions (item id, responses) of each user's current episode, step by step."""

    def __init__(self, users: int) -> None:
        self.items: list[list[int]] = [[] for _ in range(users)]
        self.responses: list[list[np.ndarray]] = [[] for _ in range(users)]

    def record(self, users: np.ndarray, items: np.ndarray, responses: np.ndarray) -> None:
        """One step of ``users`` (``items`` and ``responses`` indexed by user)."""
        for user in users:
            self.items[user].append(int(items[user]))
            self.responses[user].append(responses[user])

    def pop(self, user: int) -> tuple[np.ndarray, np.ndarray]:
        """``user``'s episode, ended: its item ids ``(T,)`` and responses ``(T, 3)``; the next one starts empty."""
        items, responses = np.array(self.items[user], dtype=np.int64), np.array(self.responses[user], np.float32)
        self.items[user], self.responses[user] = [], []
        return items, responses
