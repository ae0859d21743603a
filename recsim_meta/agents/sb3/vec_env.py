"""A stable-baselines3 ``VecEnv`` backed by the native vector envs: one process steps all users in one batched
call, instead of one Python call per env as SB3's ``DummyVecEnv`` makes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.vec_env import VecEnv

from recsim_meta.envs import MultiDomainVectorEnv, RecVectorEnv


class NativeVecEnv(VecEnv):
    """SB3's ``VecEnv`` contract over a ``RecVectorEnv`` or ``MultiDomainVectorEnv`` made with
    ``autoreset_mode="same_step"`` (``make_native_vec_env`` makes one).

    ``step_wait`` returns observations as a dict of ``(B, ...)`` arrays, float32 rewards, ``dones`` and one info
    dict per user; a user whose episode ended is reset at once, its last observation in
    ``infos[i]["terminal_observation"]`` and ``infos[i]["TimeLimit.truncated"]`` true when the step cap (not the
    user) ended it, as SB3's ``DummyVecEnv`` does. ``seed(s)`` seeds the next ``reset`` with ``s, s + 1, ...`` per
    user (one generator from the list, as the native env takes it). ``get_attr`` and ``env_method`` reach the
    native env, which all users share: an attribute is that env's for every index. ``VecMonitor`` and
    ``VecNormalize`` wrap it as any ``VecEnv``.
    """

    def __init__(self, envs: RecVectorEnv | MultiDomainVectorEnv) -> None:
        if not isinstance(envs, (RecVectorEnv, MultiDomainVectorEnv)):
            raise ValueError(f"NativeVecEnv needs a RecVectorEnv or MultiDomainVectorEnv, got {type(envs).__name__}")
        if envs.metadata["autoreset_mode"] != AutoresetMode.SAME_STEP:
            raise ValueError(
                "NativeVecEnv needs a native env made with autoreset_mode='same_step' (SB3 resets at once)"
            )
        self.envs = envs
        super().__init__(envs.num_envs, envs.single_observation_space, envs.single_action_space)
        self._actions: np.ndarray | None = None

    def reset(self) -> dict[str, np.ndarray]:
        seeds = None if self._seeds[0] is None else list(self._seeds)
        options = self._options[0] or None
        observation, _ = self.envs.reset(seed=seeds, options=options)
        self._reset_seeds()
        self._reset_options()
        return observation

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, list[dict[str, Any]]]:
        observation, reward, terminated, truncated, info = self.envs.step(self._actions)
        dones = terminated | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for user in np.flatnonzero(dones):
            infos[user]["terminal_observation"] = info["final_obs"][user]
            infos[user]["TimeLimit.truncated"] = bool(truncated[user] and not terminated[user])
        return observation, reward.astype(np.float32), dones, infos

    def close(self) -> None:
        self.envs.close()

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [getattr(self.envs, attr_name)] * len(self._get_indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        if len(self._get_indices(indices)) != self.num_envs:
            raise ValueError("the users of a native vector env share its attributes: set them for all indices")
        setattr(self.envs, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: Any = None, **method_kwargs: Any) -> list[Any]:
        result = getattr(self.envs, method_name)(*method_args, **method_kwargs)
        return [result] * len(self._get_indices(indices))

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: Any = None) -> list[bool]:
        return [False] * len(self._get_indices(indices))

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None] * self.num_envs


def make_native_vec_env(env_id: str, n_envs: int = 1, seed: int | None = None, **env_kwargs: Any) -> NativeVecEnv:
    """``NativeVecEnv`` of ``n_envs`` users of the registered ``env_id`` (as SB3's ``make_vec_env`` takes them);
    ``env_kwargs`` go to ``gym.make_vec`` (``DomainConfig`` overrides, ``MultiDomain-v0``'s split, ...)."""
    envs = gym.make_vec(
        env_id, num_envs=n_envs, vectorization_mode="vector_entry_point", autoreset_mode="same_step", **env_kwargs
    )
    vec_env = NativeVecEnv(envs)
    if seed is not None:
        vec_env.seed(seed)
    return vec_env
