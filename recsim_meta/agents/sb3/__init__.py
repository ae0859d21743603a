"""stable-baselines3 for the recsim_meta envs: a ``VecEnv`` over the native vector envs, a slate policy that
scores every candidate with one shared network, and agents from rl-zoo-style hyperparameter files."""

from recsim_meta.agents.sb3.slate_policy import CandidateScorer, SlateDQNPolicy, SlatePolicy
from recsim_meta.agents.sb3.vec_env import NativeVecEnv, make_native_vec_env

__all__ = ["CandidateScorer", "NativeVecEnv", "SlateDQNPolicy", "SlatePolicy", "make_native_vec_env"]
