"""Environments; the ``register`` loop below is the only place env ids exist."""

from gymnasium.envs.registration import register, registry

from recsim_meta.envs.domains import PRESETS, DomainConfig, make_config
from recsim_meta.envs.rec_env import RecEnv

ENV_IDS: tuple[str, ...] = tuple(preset.env_id for preset in PRESETS.values())

for _preset in PRESETS.values():
    if _preset.env_id not in registry:
        register(
            id=_preset.env_id,
            entry_point="recsim_meta.envs.rec_env:RecEnv",
            kwargs={"domain": _preset.name},
            max_episode_steps=_preset.max_episode_steps,
        )

__all__ = ["ENV_IDS", "PRESETS", "DomainConfig", "RecEnv", "make_config"]
