"""MultiDomain-v0: tasks from the splits, one padded layout for every domain, the domain indicator."""

import gymnasium as gym
import numpy as np
import pytest

from recsim_meta import DOMAINS, Task, make_splits

MULTI = "recsim_meta/MultiDomain-v0"


def test_episodes_draw_training_tasks_of_every_domain_deterministically():
    env = gym.make(MULTI)
    train = set(make_splits(DOMAINS).train)
    tasks = [env.reset(seed=seed)[1]["task"] for seed in range(60)]
    assert set(tasks) <= train
    assert {task.domain for task in tasks} == set(DOMAINS)
    assert [gym.make(MULTI).reset(seed=seed)[1]["task"] for seed in range(10)] == tasks[:10]


def test_observation_pads_each_domain_into_the_shared_columns():
    env = gym.make(MULTI)
    multi = env.unwrapped
    for seed in range(12):
        obs, info = env.reset(seed=seed)
        domain_env = multi.envs[info["domain"]]
        own = domain_env.world.observe(domain_env.sessions)
        m = domain_env.config.num_candidates
        padded = obs["candidate_features"].reshape(m, -1)
        for j, name in enumerate(domain_env.feature_names):
            np.testing.assert_array_equal(
                padded[:, multi.feature_names.index(name)], own["candidate_features"][0].reshape(m, -1)[:, j]
            )
        others = [multi.feature_names.index(n) for n in multi.feature_names if n not in domain_env.feature_names]
        assert not padded[:, others].any()
        assert obs["domain"][DOMAINS.index(info["domain"])] == 1.0 and obs["domain"].sum() == 1.0
        assert env.observation_space.contains(obs)


def test_hide_domain_zeroes_the_indicator_and_changes_nothing_else():
    shown, hidden = gym.make(MULTI), gym.make(MULTI, hide_domain=True)
    a, _ = shown.reset(seed=5)
    b, _ = hidden.reset(seed=5)
    assert not b["domain"].any()
    for key in a.keys() - {"domain"}:
        np.testing.assert_array_equal(a[key], b[key])


def test_a_given_task_overrides_the_draw_and_held_out_splits_work():
    env = gym.make(MULTI, split="test_domain", held_out_domain="game")
    assert {task.domain for task in env.unwrapped.tasks} == {"game"}
    assert all(task.domain == "game" for task in (env.reset(seed=s)[1]["task"] for s in range(5)))
    task = Task(domain="finance", cohort=99, cohort_seed=3)
    _, info = env.reset(seed=0, options={"task": task})
    assert info["task"] == task and info["domain"] == "finance"


@pytest.mark.parametrize(
    "kwargs, problem",
    [
        ({"split": "training"}, "unknown split 'training'; accepted: train, validation"),
        ({"split": "test_domain"}, "needs a held_out_domain"),
        ({"held_out_domain": "cooking"}, "held_out_domain 'cooking' is not one of the domains"),
        ({"domains": ("news", "cooking")}, "unknown domain"),
        ({"slate_size": 40}, "slate_size .* must be <= num_candidates"),
    ],
)
def test_bad_arguments_name_the_problem(kwargs, problem):
    with pytest.raises(ValueError, match=problem):
        gym.make(MULTI, **kwargs)


def test_bad_task_option_is_rejected():
    env = gym.make(MULTI, domains=("news", "video"))
    with pytest.raises(ValueError, match="task domain 'finance' does not match this env's domain\\(s\\): news, video"):
        env.reset(options={"task": Task(domain="finance")})
