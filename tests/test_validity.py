"""The simulator means something: better knowledge earns more, and long-horizon effects exist.

Each comparison uses 200 episodes with fixed seeds, spread over 4 cohorts (tasks) of the domain,
because item popularity is global while a single cohort may not share the popular tastes.
"""

import functools

import gymnasium as gym
import numpy as np
import pytest

import recsim_meta
from recsim_meta.agents import OraclePolicy, PopularityPolicy, RandomPolicy
from recsim_meta.evaluation import EpisodeStats, mean_ci, run_episodes

EPISODES = 200
COHORTS = 4


@functools.cache
def evaluate(env_id: str, policy_name: str) -> EpisodeStats:
    env = gym.make(env_id)
    tasks = recsim_meta.sample_tasks(env.unwrapped.config.name, COHORTS, seed=0)
    policies = {
        "random": lambda: RandomPolicy(env, seed=0),
        "popularity": lambda: PopularityPolicy(env),
        "oracle": lambda: OraclePolicy(env),
        "kg_blind_oracle": lambda: OraclePolicy(env, kg_aware=False),
        "clickbait": lambda: OraclePolicy(env, objective="click"),
    }
    runs = [
        run_episodes(env, policies[policy_name](), EPISODES // COHORTS, seed=1000 * i, options={"task": task})
        for i, task in enumerate(tasks)
    ]
    return EpisodeStats(*(np.concatenate([getattr(r, f) for r in runs]) for f in ("returns", "lengths", "clicks")))


def test_oracle_beats_popularity_beats_random_with_disjoint_cis(env_id):
    random, popularity, oracle = (mean_ci(evaluate(env_id, p).returns) for p in ("random", "popularity", "oracle"))
    assert oracle[1] > popularity[2], (oracle, popularity)
    assert popularity[1] > random[2], (popularity, random)


def test_session_length_responds_to_the_policy(env_id):
    """The clickbait chaser (max click probability) and the oracle end sessions at different times."""
    oracle, clickbait = evaluate(env_id, "oracle"), evaluate(env_id, "clickbait")
    difference = mean_ci(oracle.lengths - clickbait.lengths)  # paired: same seeds and cohorts
    assert difference[1] > 0 or difference[2] < 0, difference
    assert mean_ci(oracle.returns)[1] > mean_ci(clickbait.returns)[2]


def test_kg_aware_oracle_beats_kg_blind_oracle(env_id):
    if not gym.make(env_id).unwrapped.config.relations:
        pytest.skip("this preset has no knowledge graph (RecSim interest evolution has none)")
    aware, blind = evaluate(env_id, "oracle"), evaluate(env_id, "kg_blind_oracle")
    difference = mean_ci(aware.returns - blind.returns)  # paired: same seeds and cohorts
    assert difference[1] > 0, difference
