"""One validation path: every field of every preset, every Task field, env argument and reset option takes
a good value or raises a ValueError that names it; nothing runs into NaN, a crash deep inside, or memory."""

import dataclasses
import math

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import recsim_meta
from recsim_meta import Task
from recsim_meta.envs import MULTI_DOMAIN_ID, PRESETS, DomainConfig, RecEnv, RecVectorEnv
from recsim_meta.envs.domain_envs import VideoEnv

FIELDS = [f.name for f in dataclasses.fields(DomainConfig) if f.name not in ("name", "env_name")]
TASK_FIELDS = [f.name for f in dataclasses.fields(Task) if f.name != "domain"]
ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=4),
    st.integers(),  # unbounded: 10**400 too
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-100, 100).map(float),  # integer-valued floats
    st.sampled_from([10**400, 1e308, -1e308, 1e5, -1, 0, 2**63, float("nan")]),
    st.lists(st.integers(0, 5), max_size=3),
    st.floats(-20, 20),  # often in range: the env must then work
    st.integers(0, 40),
)


def works_for_50_steps(env: gym.Env, seed: int) -> None:
    """50 steps of seeded random slates: every observation inside the space and finite, every reward finite."""
    observation, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    for _ in range(50):
        assert env.observation_space.contains(observation)
        assert all(np.isfinite(value).all() for value in observation.values())
        observation, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        assert math.isfinite(reward)
        if terminated or truncated:
            observation, _ = env.reset()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(PRESETS)), st.sampled_from(FIELDS), ANY_VALUE)
def test_any_value_of_any_field_works_or_is_refused_naming_the_field(preset, field, value):
    try:
        env = RecEnv(preset, **{field: value})  # gym.make takes max_episode_steps for its TimeLimit
    except ValueError as error:
        assert field in str(error), (field, value, str(error))
        return
    works_for_50_steps(env, 0)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(PRESETS)), st.sampled_from(TASK_FIELDS), ANY_VALUE)
def test_any_value_of_any_task_field_works_or_is_refused_naming_the_field(preset, field, value):
    try:
        task = Task(domain=preset, **{field: value})
    except ValueError as error:
        assert f"Task.{field}" in str(error), (field, value, str(error))
        return
    env = gym.make(PRESETS[preset].env_id, disable_env_checker=True)
    env.reset(seed=0, options={"task": task})
    works_for_50_steps(env, 0)


@pytest.mark.parametrize(
    "fields, problem",
    [
        ({"interest_scale": float("nan")}, "Task.interest_scale must be a finite number"),
        ({"interest_scale": float("inf")}, "Task.interest_scale must be a finite number"),
        ({"kg_strength": float("nan")}, "Task.kg_strength must be a finite number"),
        ({"kg_strength": 1e300}, r"Task.kg_strength must be in \[0, 10\]"),
        ({"trait_shift": float("nan")}, "Task.trait_shift must be a finite number"),
        ({"cohort_seed": -1}, "Task.cohort_seed must be >= 0"),
        ({"variant": 1.0}, "Task.variant must be an integer"),
    ],
)
def test_bad_task_fields_are_refused_naming_the_field(fields, problem):
    with pytest.raises(ValueError, match=problem):
        Task(domain="finance", **fields)


@pytest.mark.parametrize(
    "env_id, overrides, problem",
    [
        ("recsim_meta/Video-v0", {"item_spread": 1e308}, r"item_spread must be in \[0, 10\]"),
        ("recsim_meta/Video-v0", {"kg_strength": 1e300}, r"kg_strength must be in \[0, 10\]"),
        ("recsim_meta/Video-v0", {"slate_size": 3.0}, "slate_size must be an integer, got 3.0"),
        ("recsim_meta/Video-v0", {"history_length": 1.0}, "history_length must be an integer"),
        ("recsim_meta/Video-v0", {"num_items": 300.0}, "num_items must be an integer"),
        ("recsim_meta/Video-v0", {"num_items": 10**400}, r"num_items must be in \[1, 4096\]"),
        ("recsim_meta/Video-v0", {"history_length": 10**8}, r"history_length must be in \[1, 1000\]"),
        ("recsim_meta/Video-v0", {"embedding_dim": 10**6}, r"embedding_dim must be in \[1, 512\]"),
        ("recsim_meta/Video-v0", {"relations": None}, "relations must be a tuple of RelationSpec"),
        ("recsim_meta/Video-v0", {"attributes": "abc"}, "attributes must be a tuple of AttributeSpec"),
        ("recsim_meta/Game-v0", {"observed_traits": 5}, "observed_traits must be a tuple of str"),
        ("recsim_meta/Finance-v0", {"suitability": "x"}, "suitability must be a SuitabilityRule or None"),
        ("recsim_meta/Social-v0", {"social": 1}, "social must be a SocialSpec or None"),
        ("recsim_meta/Video-v0", {"response": "finance"}, "response 'finance' needs the attributes"),
        ("recsim_meta/Video-v0", {"zipf_exponent": 1e5}, r"zipf_exponent must be in \[0, 5\]"),
        (MULTI_DOMAIN_ID, {"num_variants": 10**9}, r"num_variants must be in \[0, 1000\]"),
        (MULTI_DOMAIN_ID, {"num_variants": 1.5}, "num_variants must be an integer"),
        (MULTI_DOMAIN_ID, {"hide_domain": "yes"}, "hide_domain must be True or False"),
    ],
)
def test_bad_overrides_are_value_errors_naming_the_field(env_id, overrides, problem):
    with pytest.raises(ValueError, match=problem):
        gym.make(env_id, **overrides)


@pytest.mark.parametrize("num_envs, problem", [(10**6, r"num_envs must be in \[1, 262144\]"), (True, "integer")])
def test_vector_sizes_are_refused_before_allocating(num_envs, problem):
    with pytest.raises(ValueError, match=problem):
        gym.make_vec("recsim_meta/Video-v0", num_envs=num_envs, vectorization_mode="vector_entry_point")


def test_a_vector_env_whose_sessions_exceed_the_memory_limit_says_how_much_they_would_take():
    with pytest.raises(ValueError, match=r"num_envs=200000 would take .* GiB of session state"):
        RecVectorEnv(200_000, "video", history_length=1000)


def test_reset_takes_numpy_integer_seeds_and_refuses_other_seeds_and_options():
    env = gym.make("recsim_meta/News-v0")
    a, _ = env.reset(seed=np.int64(3))
    b, _ = env.reset(seed=3)
    np.testing.assert_array_equal(a["candidate_ids"], b["candidate_ids"])
    for seed in (-1, 2.5, "3", True):
        with pytest.raises(ValueError, match="seed must be"):
            env.reset(seed=seed)
    with pytest.raises(ValueError, match="reset options must be a dict"):
        env.reset(options=5)
    envs = gym.make_vec("recsim_meta/News-v0", num_envs=3, vectorization_mode="vector_entry_point")
    envs.reset(seed=np.int64(3))
    envs.reset(seed=[np.int64(0), 1, 2])
    with pytest.raises(ValueError, match=r"seed\[0\] must be an integer, got 0.9"):
        envs.reset(seed=[0.9, 1.2, 2.7])


def test_an_env_built_directly_ends_episodes_at_max_episode_steps():
    env = VideoEnv(max_episode_steps=1)
    env.reset(seed=0)
    *_, terminated, truncated, _ = env.step(env.action_space.sample())
    assert truncated or terminated
    made = gym.make("recsim_meta/Video-v0", max_episode_steps=150)  # the registration's TimeLimit decides
    made.reset(seed=0)
    steps = 0
    truncated = terminated = False
    while not (terminated or truncated):
        *_, terminated, truncated, _ = made.step(made.action_space.sample())
        steps += 1
    assert steps <= 150


def test_a_huge_bad_action_gets_a_short_message():
    env = gym.make("recsim_meta/Video-v0")
    env.reset(seed=0)
    with pytest.raises(ValueError) as error:
        env.step(list(range(10**6)))
    assert "list of 1000000 items" in str(error.value) and len(str(error.value)) < 400


def test_every_registered_id_is_covered():
    assert {PRESETS[p].env_id for p in PRESETS} | {MULTI_DOMAIN_ID} == set(recsim_meta.ENV_IDS)
