"""The planning oracle: a long-horizon policy beats the myopic oracle where the domains say it should.

Each comparison runs the default task of an env id on users that neither the price search nor the reference
runs met, every user once under each policy (paired: the same users start each run).
"""

import gymnasium as gym
import numpy as np
import pytest

from recsim_meta.agents.baselines import OraclePolicy
from recsim_meta.agents.planning import PlanningOracle, planned_slates
from recsim_meta.envs import RecVectorEnv
from recsim_meta.evaluation.references import ENV_PRESETS, REFERENCE_SEED, SEARCH_SEED, planning_price
from recsim_meta.evaluation.rollout import mean_ci, run_users

USERS = 400
SEED = 20_000
assert SEED not in (REFERENCE_SEED, SEARCH_SEED)
LONG_HORIZON = ("recsim_meta/Video-v0", "recsim_meta/News-v0", "recsim_meta/Social-v0", "recsim_meta/Finance-v0")
NOT_WORSE = ("recsim_meta/Ecommerce-v0", "recsim_meta/Game-v0", "recsim_meta/VideoInterestEvolution-v0")


def paired_returns(env_id: str) -> tuple[np.ndarray, np.ndarray]:
    """The myopic and the planning oracle's returns on the same ``USERS`` users of ``env_id``'s default task."""
    envs = RecVectorEnv(USERS, ENV_PRESETS[env_id])
    myopic = run_users(envs, OraclePolicy(envs), SEED).returns
    planning = run_users(envs, PlanningOracle(envs, planning_price(env_id)), SEED).returns
    return myopic, planning


@pytest.mark.parametrize("env_id", LONG_HORIZON)
def test_planning_beats_the_myopic_oracle_by_15_percent(env_id):
    myopic, planning = paired_returns(env_id)
    mean, low, _ = mean_ci(planning - myopic)
    assert low > 0 and mean >= 0.15 * myopic.mean(), (mean, low, myopic.mean())


@pytest.mark.parametrize("env_id", NOT_WORSE)
def test_planning_is_not_worse_than_the_myopic_oracle(env_id):
    myopic, planning = paired_returns(env_id)
    assert mean_ci(planning - myopic)[2] > 0


def test_a_price_of_zero_is_the_myopic_oracle():
    envs = RecVectorEnv(64, "news")
    envs.reset(seed=3)
    for _ in range(5):
        myopic = envs.world.oracle_slates(envs.sessions)
        np.testing.assert_array_equal(planned_slates(envs.world, envs.sessions, 0.0), myopic)
        envs.step(myopic)


def test_single_env_and_one_user_of_the_vector_env_plan_the_same_slates():
    env, envs = gym.make("recsim_meta/Finance-v0"), RecVectorEnv(1, "finance")
    obs, _ = env.reset(seed=7)
    batch, _ = envs.reset(seed=7)
    single, vector = PlanningOracle(env, 30.0), PlanningOracle(envs, 30.0)
    for _ in range(20):
        action, _ = single.predict(obs)
        assert env.action_space.contains(action)
        np.testing.assert_array_equal(vector.predict(batch)[0], action[None])
        obs, _, terminated, truncated, _ = env.step(action)
        batch, *_ = envs.step(action[None])
        if terminated or truncated:
            break


def test_price_per_task_follows_the_multi_domain_env_from_task_to_task():
    env = gym.make("recsim_meta/MultiDomain-v0")
    seen = []
    policy = PlanningOracle(env, lambda task: seen.append(task) or 1.0)
    for seed in range(3):
        obs, info = env.reset(seed=seed)
        policy.predict(obs)
        assert seen[-1] == info["task"]


@pytest.mark.parametrize("price", [-1.0, float("nan"), float("inf"), "1"])
def test_bad_prices_are_refused(price):
    with pytest.raises(ValueError, match="price"):
        PlanningOracle(gym.make("recsim_meta/News-v0"), price)


def test_an_oracle_needs_an_env_with_ground_truth():
    env = gym.make("recsim_meta/News-v0")
    with pytest.raises(RuntimeError, match="ground truth"):
        PlanningOracle(env, 1.0).predict(env.observation_space.sample())
