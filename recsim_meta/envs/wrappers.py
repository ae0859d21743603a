"""Wrappers: ``FixedTask`` runs one task in every episode, for learners that call ``reset()`` without options."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from recsim_meta.sim.tasks import Task


class FixedTask(gym.Wrapper):
    """Every ``reset`` runs ``task`` (SB3 and other libraries reset without options).

    ``reset(options={"task": other})`` is refused: the wrapper exists to keep the task fixed.
    """

    def __init__(self, env: gym.Env, task: Task) -> None:
        super().__init__(env)
        if not isinstance(task, Task):
            raise ValueError(f"FixedTask needs a recsim_meta Task, got {type(task).__name__}")
        self.task = task
        env.reset(options={"task": task})  # checks the task fits the env now, not at the first episode

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        if options and options.get("task", self.task) != self.task:
            raise ValueError(f"this env is fixed to the task {self.task}; options['task'] cannot change it")
        return self.env.reset(seed=seed, options={**(options or {}), "task": self.task})
