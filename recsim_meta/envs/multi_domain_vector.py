"""``MultiDomainVectorEnv``: ``B`` users of ``MultiDomain-v0`` at once, every episode a task of the split."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from recsim_meta.envs.multi_domain import MultiDomainEnv
from recsim_meta.envs.rec_env import validate_action
from recsim_meta.envs.vector import (
    check_autoreset_mode,
    check_max_episode_steps,
    check_num_envs,
    final_observations,
    generator_seed,
    session_bytes,
)
from recsim_meta.envs.world import Sessions, World, join_rows, select_rows, world_for
from recsim_meta.sim.tasks import Task


@dataclass
class TaskGroup:
    """The users running one task now (``users``: their indices) and their sessions, row for row."""

    users: np.ndarray
    sessions: Sessions


class MultiDomainVectorEnv(VectorEnv):
    """``B`` users of ``MultiDomain-v0``; ``gym.make_vec("recsim_meta/MultiDomain-v0", num_envs=B)`` returns it.

    Each user's every episode is a task (domain + cohort) drawn uniformly from the split, as in
    ``MultiDomainEnv``, so users of different domains and cohorts step together. Users are grouped by
    task and each step runs one batched ``World.step`` per task that has users (no loop over users);
    observations are padded into the single env's layout. Spaces are the single env's, batched.

    ``info`` holds ``clicked``, ``position``, ``item``, ``domain`` and every domain's signals as
    ``(B,)`` arrays, with Gymnasium's ``_key`` masks saying which users have them (a signal only for
    users of its domain); with ``hide_domain=True`` only the first three. ``user_tasks`` gives each user's current task.

    Gymnasium's next-step autoreset applies, or same-step with ``autoreset_mode="same_step"`` (see
    ``RecVectorEnv``); a restarted user draws a new task.
    ``reset(seed=s)`` seeds the one generator all users share, ``reset(seed=[s_1, ..., s_B])`` seeds it
    from per-user seeds; ``reset(options={"task": task})`` starts every user's first episode on
    ``task`` (later episodes draw from the split again). The users follow the single env's distribution
    (tests compare return, CTR, session length and the share of each domain).

    Args:
        num_envs: ``B``, users simulated at once.
        max_episode_steps: step cap per episode (default: the registration's, the longest domain's).
        autoreset_mode: ``next_step`` (the default) or ``same_step``.
        task: every episode of every user runs this task (one of the layout's domains), for learners that
            train on one task in the multi-domain layout; ``None`` (the default): draws from the split.
        **kwargs: ``MultiDomainEnv``'s arguments (``split``, ``held_out_domain``, ``num_cohorts``, ...,
            ``DomainConfig`` overrides).
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(
        self,
        num_envs: int = 1,
        max_episode_steps: int | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        task: Task | None = None,
        **kwargs: Any,
    ) -> None:
        self.metadata = {**self.metadata, "autoreset_mode": check_autoreset_mode(autoreset_mode)}
        self.layout = MultiDomainEnv(**kwargs)  # the tasks, the spaces and the padding into one layout
        self.fixed_task = None if task is None else self.layout.task_option({"task": task})
        self.configs = {domain: env.config for domain, env in self.layout.envs.items()}
        self.num_envs = check_num_envs(num_envs, max(map(session_bytes, self.configs.values())))
        longest = max(c.max_episode_steps for c in self.configs.values())
        self.max_episode_steps = check_max_episode_steps(longest if max_episode_steps is None else max_episode_steps)
        self.single_observation_space = self.layout.observation_space
        self.single_action_space = self.layout.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.render_mode = None
        self.groups: dict[Task, TaskGroup] = {}
        self.episode_steps = np.zeros(self.num_envs, dtype=np.int64)
        self.needs_reset = np.zeros(self.num_envs, dtype=bool)

    @property
    def tasks(self) -> tuple[Task, ...]:
        """The tasks episodes draw from: the split's, or the fixed task alone."""
        return self.layout.tasks if self.fixed_task is None else (self.fixed_task,)

    @property
    def user_tasks(self) -> list[Task | None]:
        """Each user's current task (``None`` before ``reset``)."""
        return list(self._per_user(lambda task: task))

    def _per_user(self, value: Callable[[Task], Any]) -> np.ndarray:
        """``(B,)`` object array of ``value(task)`` for each user's task, filled group by group."""
        values = np.full(self.num_envs, None, dtype=object)
        for task, group in self.groups.items():
            values[group.users] = value(task)
        return values

    def world(self, task: Task) -> World:
        return world_for(self.configs[task.domain], task)

    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        seed = generator_seed(seed, self.num_envs)
        task = self.layout.task_option(options)  # checked first: a bad option changes nothing
        super().reset(seed=seed)
        self.groups = {}
        users = np.arange(self.num_envs)
        if task is None:
            self._start(users, self.tasks, self._draw_tasks(self.num_envs))
        else:
            self._start(users, [task], np.zeros(self.num_envs, dtype=np.int64))
        self.episode_steps[:] = 0
        self.needs_reset[:] = False
        return self._observe(), {}

    def step(self, actions: Any) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if not self.groups:
            raise RuntimeError("call reset() before step()")
        slates = validate_action(actions, self.layout.config, self.num_envs)
        restart = np.flatnonzero(self.needs_reset)  # their episodes ended on the previous step: next-step autoreset
        self._leave(restart)
        reward = np.zeros(self.num_envs)
        terminated = np.zeros(self.num_envs, dtype=bool)
        info: dict[str, Any] = {}  # a key's array and mask are made when first needed; these three always are
        for key, dtype in (("clicked", bool), ("position", np.int64), ("item", np.int64)):
            info[key], info[f"_{key}"] = np.zeros(self.num_envs, dtype), np.zeros(self.num_envs, bool)
        for task, group in self.groups.items():
            outcome = self.world(task).step(self.np_random, group.sessions, slates[group.users])
            reward[group.users] = outcome.reward
            terminated[group.users] = outcome.terminated
            signals = {"clicked": outcome.clicked, "position": outcome.position, "item": outcome.item}
            for key, values in {**signals, **({} if self.layout.hide_domain else outcome.signals)}.items():
                if key not in info:
                    info[key], info[f"_{key}"] = np.zeros(self.num_envs, values.dtype), np.zeros(self.num_envs, bool)
                info[key][group.users], info[f"_{key}"][group.users] = values, True
        self.episode_steps += 1
        truncated = self.episode_steps >= self.max_episode_steps
        if len(restart):
            self._start(restart, self.tasks, self._draw_tasks(len(restart)))
            self.episode_steps[restart] = 0
            truncated[restart] = False
        if not self.layout.hide_domain:
            info["domain"] = self._per_user(lambda task: task.domain)
            info["_domain"] = np.ones(self.num_envs, dtype=bool)
        observation = self._observe()
        ended = np.flatnonzero(terminated | truncated)
        if self.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP:
            self.needs_reset = terminated | truncated
        elif len(ended):  # same-step autoreset: the ended users start again now, on new tasks
            info.update(final_observations(observation, ended, self.num_envs))
            self._leave(ended)
            self._start(ended, self.tasks, self._draw_tasks(len(ended)))
            self.episode_steps[ended] = 0
            observation = self._observe()
        return observation, reward, terminated, truncated, info

    def _draw_tasks(self, count: int) -> np.ndarray:
        """Indices into ``tasks`` of ``count`` uniform draws."""
        return self.np_random.integers(len(self.tasks), size=count)

    def _start(self, users: np.ndarray, tasks: Sequence[Task], choices: np.ndarray) -> None:
        """New sessions for ``users``, user ``users[i]`` on ``tasks[choices[i]]`` (added to that task's group);
        tasks are started in order of first appearance."""
        for index in dict.fromkeys(choices.tolist()):
            task, mine = tasks[index], users[choices == index]
            sessions = self.world(task).start(self.np_random, len(mine))
            group = self.groups.get(task)
            if group is None:
                self.groups[task] = TaskGroup(mine, sessions)
            else:
                self.groups[task] = TaskGroup(np.concatenate([group.users, mine]), join_rows(group.sessions, sessions))

    def _leave(self, users: np.ndarray) -> None:
        """Take ``users`` out of their groups (their sessions are over)."""
        if not len(users):
            return
        leaving = np.zeros(self.num_envs, dtype=bool)
        leaving[users] = True
        for task, group in list(self.groups.items()):
            stay = ~leaving[group.users]
            if stay.all():
                continue
            if stay.any():
                self.groups[task] = TaskGroup(group.users[stay], select_rows(group.sessions, stay))
            else:
                del self.groups[task]

    def _observe(self) -> dict[str, np.ndarray]:
        observations = {
            key: np.zeros((self.num_envs, *space.shape), dtype=space.dtype)
            for key, space in self.single_observation_space.items()
        }
        for task, group in self.groups.items():
            padded = self.layout.padded(self.world(task).observe(group.sessions), task.domain)
            for key, values in padded.items():
                observations[key][group.users] = values
        return observations
