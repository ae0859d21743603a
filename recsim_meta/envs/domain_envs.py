"""One ``RecEnv`` subclass per registered domain preset, so each id has a class with its own docstring.

A subclass only names its preset; its docstring is generated from the preset (``describe``), so the
documented spaces are the real ones.
"""

from __future__ import annotations

from recsim_meta.envs.domains import PRESETS
from recsim_meta.envs.rec_env import RecEnv, describe


def _domain_env(name: str) -> type[RecEnv]:
    """The ``RecEnv`` subclass of preset ``name``, called ``{env_name}Env``."""
    preset = PRESETS[name]
    return type(
        f"{preset.env_name}Env", (RecEnv,), {"__doc__": describe(preset), "preset": name, "__module__": __name__}
    )


EcommerceEnv = _domain_env("ecommerce")
NewsEnv = _domain_env("news")
VideoEnv = _domain_env("video")
SocialEnv = _domain_env("social")
GameEnv = _domain_env("game")
FinanceEnv = _domain_env("finance")
VideoInterestEvolutionEnv = _domain_env("video_interest_evolution")
