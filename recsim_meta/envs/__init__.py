"""Environments; the ``register`` calls below are the only place env ids exist."""

from gymnasium.envs.registration import register, registry

from recsim_meta.envs.domains import DOMAINS, PRESETS, DomainConfig, domain_variant, make_config
from recsim_meta.envs.multi_domain import MultiDomainEnv
from recsim_meta.envs.multi_domain_vector import MultiDomainVectorEnv
from recsim_meta.envs.rec_env import RecEnv
from recsim_meta.envs.vector import RecVectorEnv

MULTI_DOMAIN_ID = "recsim_meta/MultiDomain-v0"
ENV_IDS: tuple[str, ...] = tuple(preset.env_id for preset in PRESETS.values()) + (MULTI_DOMAIN_ID,)

for _preset in PRESETS.values():
    if _preset.env_id not in registry:
        register(
            id=_preset.env_id,
            entry_point=f"recsim_meta.envs.domain_envs:{_preset.env_name}Env",
            vector_entry_point="recsim_meta.envs.vector:RecVectorEnv",
            kwargs={"domain": _preset.name},
            max_episode_steps=_preset.max_episode_steps,
        )
if MULTI_DOMAIN_ID not in registry:
    register(
        id=MULTI_DOMAIN_ID,
        entry_point="recsim_meta.envs.multi_domain:MultiDomainEnv",
        vector_entry_point="recsim_meta.envs.multi_domain_vector:MultiDomainVectorEnv",
        max_episode_steps=max(PRESETS[d].max_episode_steps for d in DOMAINS),
    )

__all__ = [
    "DOMAINS",
    "ENV_IDS",
    "MULTI_DOMAIN_ID",
    "PRESETS",
    "DomainConfig",
    "MultiDomainEnv",
    "MultiDomainVectorEnv",
    "RecEnv",
    "RecVectorEnv",
    "domain_variant",
    "make_config",
]
