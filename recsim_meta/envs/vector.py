"""``RecVectorEnv``: the dynamics of ``RecEnv`` for ``B`` users at once, as batched numpy arrays."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from recsim_meta.envs.domains import PRESETS, DomainConfig, make_config
from recsim_meta.envs.rec_env import action_space, observation_space, reset_seed, task_option, validate_action
from recsim_meta.envs.world import replace_rows, select_rows, world_for
from recsim_meta.sim.tasks import Task
from recsim_meta.sim.validation import NON_NEGATIVE, Range, check_choice, check_integer

MAX_USERS = 2**18
"""The most users a native vector env steps at once."""
MAX_SESSION_BYTES = 2 * 2**30
"""The most memory the sessions of a native vector env may take (2 GiB)."""


def check_num_envs(num_envs: Any, bytes_per_user: int = 0) -> int:
    """``num_envs`` as an int in ``[1, MAX_USERS]`` whose sessions fit ``MAX_SESSION_BYTES``, checked before
    anything is allocated."""
    num_envs = check_integer("num_envs", num_envs, Range(1, MAX_USERS))
    if num_envs * bytes_per_user > MAX_SESSION_BYTES:
        raise ValueError(
            f"num_envs={num_envs} would take {num_envs * bytes_per_user / 2**30:.1f} GiB of session state "
            f"({bytes_per_user:,} bytes a user); the limit is {MAX_SESSION_BYTES / 2**30:.0f} GiB"
        )
    return num_envs


def session_bytes(config: DomainConfig) -> int:
    """About how many bytes one user's session state, observation and step outputs take."""
    features = config.num_topics + 2 + len(config.attributes)
    per_user = config.embedding_dim + 3 * config.num_topics + 4 * config.history_length
    per_user += config.num_candidates * (features + 4) + 8 * config.slate_size + 64
    return 8 * per_user


def check_max_episode_steps(steps: Any) -> int:
    return check_integer("max_episode_steps", steps, Range(1, 1_000_000))


def check_autoreset_mode(mode: AutoresetMode | str) -> AutoresetMode:
    """``mode`` as an ``AutoresetMode``: next-step or same-step autoreset, the modes the native envs run."""
    accepted = {"next_step": AutoresetMode.NEXT_STEP, "same_step": AutoresetMode.SAME_STEP}
    names = {**accepted, **{m.value: m for m in accepted.values()}}
    found = mode if mode in accepted.values() else names.get(mode) if isinstance(mode, str) else None
    if found is None:
        raise ValueError(f"unknown autoreset_mode {mode!r}; accepted: {', '.join(accepted)} (or AutoresetMode's)")
    return found


def final_observations(observation: dict[str, np.ndarray], ended: np.ndarray, num_envs: int) -> dict[str, np.ndarray]:
    """Gymnasium's same-step ``info["final_obs"]`` (an object array of the ended users' observations, copied)
    and its mask ``info["_final_obs"]``."""
    final = np.full(num_envs, None, dtype=object)
    mask = np.zeros(num_envs, dtype=bool)
    for user in ended:
        final[user] = {key: value[user].copy() for key, value in observation.items()}
    mask[ended] = True
    return {"final_obs": final, "_final_obs": mask}


def generator_seed(seed: int | list[int] | None, num_envs: int) -> int | None:
    """The seed of the generator all users share: ``seed`` itself, or one made from a list of per-user seeds
    (non-negative integers, one per user)."""
    if isinstance(seed, (list, tuple, np.ndarray)):
        if len(seed) != num_envs:
            raise ValueError(f"need one seed per user: got {len(seed)} seeds for num_envs={num_envs}")
        seeds = [check_integer(f"seed[{i}]", s, NON_NEGATIVE) for i, s in enumerate(seed)]
        return np.random.SeedSequence(seeds).generate_state(1)[0].item()
    return reset_seed(seed)


class RecVectorEnv(VectorEnv):
    """``B`` users of one domain and task stepped together; ``gym.make_vec(id, num_envs=B)`` returns it.

    The same dynamics as ``RecEnv`` (both run ``World``), with no Python loop over users. Spaces are
    the single env's, batched: observations are a ``Dict`` of ``(B, ...)`` arrays, actions ``(B,)``
    (``slate_size=1``) or ``(B, K)``. Rewards, ``terminated`` and ``truncated`` are ``(B,)``; ``info``
    holds the single env's keys as ``(B,)`` arrays (with Gymnasium's ``_key`` masks).

    Episodes end per user. With Gymnasium's next-step autoreset (the default) the step after a user's
    episode ends returns that user's new first observation with reward 0 and both flags false, ignoring
    its action; with ``autoreset_mode="same_step"`` (what stable-baselines3 expects) the step that ends an
    episode returns the user's new first observation at once, the last one in ``info["final_obs"]`` (an
    object array of observations, ``info["_final_obs"]`` the mask). ``truncated`` comes at
    ``max_episode_steps`` (the registration's, or the argument).

    Seeding: ``reset(seed=s)`` seeds the one generator all users share; ``reset(seed=[s_1, ..., s_B])``
    seeds it from the list of per-user seeds. With ``B = 1`` and an int seed the users' first episode
    is identical to ``RecEnv``'s with that seed; for more users the statistics match (tests compare
    return, CTR and session length). A task is set with ``reset(options={"task": task})``.

    Args:
        num_envs: ``B``, users simulated at once.
        domain: preset name.
        max_episode_steps: step cap per episode (default: the preset's).
        autoreset_mode: ``next_step`` (the default) or ``same_step`` (``AutoresetMode`` values or names).
        task: the task the users run until ``reset`` sets another (default: the domain's ``Task``).
        **overrides: ``DomainConfig`` fields, as for ``gym.make``.
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(
        self,
        num_envs: int = 1,
        domain: str = "ecommerce",
        max_episode_steps: int | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        task: Task | None = None,
        **overrides: Any,
    ) -> None:
        self.metadata = {**self.metadata, "autoreset_mode": check_autoreset_mode(autoreset_mode)}
        self.config = make_config(check_choice("domain", domain, PRESETS), **overrides)
        self.num_envs = check_num_envs(num_envs, session_bytes(self.config))
        steps = self.config.max_episode_steps if max_episode_steps is None else max_episode_steps
        self.max_episode_steps = check_max_episode_steps(steps)
        self.world = world_for(
            self.config, task_option({"task": task or Task(domain=self.config.name)}, (self.config.name,))
        )
        self.single_observation_space = observation_space(self.config)
        self.single_action_space = action_space(self.config)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.render_mode = None
        self.sessions = None
        self.episode_steps = np.zeros(self.num_envs, dtype=np.int64)
        self.needs_reset = np.zeros(self.num_envs, dtype=bool)

    @property
    def task(self) -> Task:
        return self.world.task

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Names of the ``F`` columns of a user's ``candidate_features.reshape(M, F)``."""
        return self.world.feature_names

    @property
    def user_feature_names(self) -> tuple[str, ...]:
        """Names of the ``user_features`` columns."""
        return self.world.user_feature_names

    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        seed = generator_seed(seed, self.num_envs)
        task = task_option(options, (self.config.name,))  # checked first: a bad option changes nothing
        super().reset(seed=seed)
        if task is not None and task != self.world.task:
            self.world = world_for(self.config, task)
        self.sessions = self.world.start(self.np_random, self.num_envs)
        self.episode_steps[:] = 0
        self.needs_reset[:] = False
        return self.world.observe(self.sessions), {}

    def step(self, actions: Any) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if self.sessions is None:
            raise RuntimeError("call reset() before step()")
        slates = validate_action(actions, self.config, self.num_envs)
        outcome = self.world.step(self.np_random, self.sessions, slates)
        self.episode_steps += 1
        reward = outcome.reward.copy()
        terminated = outcome.terminated.copy()
        truncated = self.episode_steps >= self.max_episode_steps
        stepped = ~self.needs_reset  # users whose episode was running; the others restart now
        restart = np.flatnonzero(self.needs_reset)
        if len(restart):  # next-step autoreset: these users' episodes ended on the previous step
            replace_rows(self.sessions, restart, self.world.start(self.np_random, len(restart)))
            self.episode_steps[restart] = 0
            reward[restart] = 0.0
            terminated[restart] = truncated[restart] = False
        info: dict[str, Any] = {"clicked": outcome.clicked, "position": outcome.position, "item": outcome.item}
        info.update(outcome.signals)
        info.update({f"_{key}": stepped for key in list(info)})
        observation = self.world.observe(self.sessions)
        ended = np.flatnonzero(terminated | truncated)
        if self.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP:
            self.needs_reset = terminated | truncated
        elif len(ended):  # same-step autoreset: the ended users start again now
            info.update(final_observations(observation, ended, self.num_envs))
            replace_rows(self.sessions, ended, self.world.start(self.np_random, len(ended)))
            self.episode_steps[ended] = 0
            replace_rows(observation, ended, self.world.observe(select_rows(self.sessions, ended)))
        return observation, reward, terminated, truncated, info
