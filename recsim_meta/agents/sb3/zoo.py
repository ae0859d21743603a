"""Stable-baselines3 agents from rl-zoo-style hyperparameter files, and their weights in safetensors.

A hyperparameter file (``experiments/hyperparams/ppo.yml``) maps env ids to SB3 constructor arguments, as
``rl_zoo3`` reads them: ``policy``, ``n_timesteps`` (used by rl_zoo3 only; the benchmark sets its own budgets)
and any keyword of the algorithm's constructor. Weights are written as safetensors of the policy's state dict
(SB3's own ``.zip`` unpickles on load), and read back into a model built from the same hyperparameters.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
from safetensors.torch import save_file
from stable_baselines3 import A2C, DQN, PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.logger import HumanOutputFormat, Logger

from recsim_meta.agents.recommender_policy import read_safetensors
from recsim_meta.agents.sb3.slate_policy import SlateDQNPolicy, SlatePolicy
from recsim_meta.atomic_files import atomic_directory
from recsim_meta.config_files import read_mapping

ALGORITHMS: dict[str, type[BaseAlgorithm]] = {"ppo": PPO, "a2c": A2C, "dqn": DQN}
ZOO_ONLY = ("n_timesteps", "normalize", "env_wrapper", "frame_stack", "callback")
POLICIES = {"MultiInputPolicy": "MultiInputPolicy", "SlatePolicy": SlatePolicy, "SlateDQNPolicy": SlateDQNPolicy}
"""The policies a hyperparameter file may name: SB3's, and the slate policies of this package."""
POLICY_FILE = "policy.safetensors"


def read_hyperparameters(folder: str | os.PathLike, algorithm: str, env_id: str) -> dict[str, Any]:
    """The constructor arguments of ``algorithm`` for ``env_id`` in ``folder/<algorithm>.yml`` (rl_zoo3's keys
    that are not constructor arguments dropped, but ``n_envs``: the users a native VecEnv steps at once, 1 when
    absent); ``ValueError`` naming what is missing."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algorithm!r}; accepted: {', '.join(ALGORITHMS)}")
    path = Path(folder) / f"{algorithm}.yml"
    table = read_mapping(path, "hyperparameters")
    if env_id not in table:
        raise ValueError(f"{path} has no entry for {env_id!r}; it has: {', '.join(map(str, table))}")
    return {"n_envs": 1, **{k: v for k, v in table[env_id].items() if k not in ZOO_ONLY}}


def make_agent(
    algorithm: str,
    env: gym.Env,
    hyperparameters: dict[str, Any],
    seed: int,
    tensorboard_log: str | os.PathLike | None = None,
) -> BaseAlgorithm:
    """An SB3 ``algorithm`` on ``env`` (a gym env or a ``VecEnv``) on the CPU, its ``policy`` by name (``POLICIES``);
    bad hyperparameters raise ``ValueError`` naming them.

    Without ``tensorboard_log`` it logs to stdout when ``verbose``, else nowhere (SB3's default would make an
    empty ``SB3-<date>`` folder in the temp directory at every ``learn``)."""
    arguments = dict(hyperparameters)
    arguments.pop("n_envs", None)
    policy = arguments.pop("policy", "MultiInputPolicy")
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}; accepted: {', '.join(POLICIES)}")
    policy = POLICIES[policy]
    try:
        agent = ALGORITHMS[algorithm](
            policy,
            env,
            seed=seed,
            device="cpu",
            tensorboard_log=None if tensorboard_log is None else str(tensorboard_log),
            **arguments,
        )
    except TypeError as error:
        raise ValueError(f"bad {algorithm} hyperparameters {sorted(arguments)}: {error}") from None
    if tensorboard_log is None:
        agent.set_logger(Logger(None, [HumanOutputFormat(sys.stdout)] if agent.verbose else []))
    return agent


def save_policy(agent: BaseAlgorithm, folder: str | os.PathLike) -> None:
    """The policy's weights to ``folder/policy.safetensors``, atomically."""
    with atomic_directory(folder) as staging:
        save_file({k: v.contiguous() for k, v in agent.policy.state_dict().items()}, staging / POLICY_FILE)


def load_policy(agent: BaseAlgorithm, folder: str | os.PathLike) -> BaseAlgorithm:
    """``agent`` with the weights ``save_policy`` wrote (no code runs on load); ``ValueError`` when they do not fit."""
    weights = read_safetensors(Path(folder) / POLICY_FILE)
    try:
        agent.policy.load_state_dict(weights)
    except RuntimeError as error:
        raise ValueError(f"{folder} holds weights of another policy: {error}") from None
    return agent
