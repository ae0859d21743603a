"""MultiDomain-v0: tasks from the splits, one padded layout for every domain, the domain indicator."""

import gymnasium as gym
import numpy as np
import pytest

from recsim_meta import DOMAINS, MultiDomainVectorEnv, Task, domain_variant, make_splits

MULTI = "recsim_meta/MultiDomain-v0"


def test_episodes_draw_training_tasks_of_every_domain_deterministically():
    env = gym.make(MULTI)
    train = set(make_splits(DOMAINS).train)
    tasks = [env.reset(seed=seed)[1]["task"] for seed in range(60)]
    assert set(tasks) <= train
    assert {task.domain for task in tasks} == set(DOMAINS)
    assert [gym.make(MULTI).reset(seed=seed)[1]["task"] for seed in range(10)] == tasks[:10]


def test_variants_join_the_training_draw_and_run_their_own_users():
    env = gym.make(MULTI, held_out_domain="video", num_variants=2)
    assert set(env.unwrapped.tasks) == set(make_splits(DOMAINS, held_out_domain="video", num_variants=2).train)
    seeds = [seed for seed in range(60) if env.reset(seed=seed)[1]["task"].variant]
    assert seeds  # 10 of the 40 training tasks are variants
    task = env.reset(seed=seeds[0])[1]["task"]
    assert env.unwrapped.env.world.config == domain_variant(env.unwrapped.config, task.variant)


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


def test_hide_domain_keeps_the_domain_and_the_task_out_of_every_info():
    env = gym.make(MULTI, hide_domain=True)
    _, info = env.reset(seed=5)
    assert info == {}
    for _ in range(5):
        *_, info = env.step(env.action_space.sample())
        assert set(info) == {"clicked", "position", "item"}
    envs = gym.make_vec(MULTI, num_envs=64, vectorization_mode="vector_entry_point", hide_domain=True)
    _, info = envs.reset(seed=0)
    assert info == {}
    *_, info = envs.step(envs.action_space.sample())
    assert set(info) == {"clicked", "position", "item", "_clicked", "_position", "_item"}


def test_a_given_task_overrides_the_draw_and_held_out_splits_work():
    env = gym.make(MULTI, split="test_domain", held_out_domain="game")
    assert {task.domain for task in env.unwrapped.tasks} == {"game"}
    assert all(task.domain == "game" for task in (env.reset(seed=s)[1]["task"] for s in range(5)))
    task = env.unwrapped.tasks[3]
    _, info = env.reset(seed=0, options={"task": task})
    assert info["task"] == task and info["domain"] == "game"
    other = Task(domain="finance", cohort=99, cohort_seed=3)
    _, info = gym.make(MULTI, any_task=True).reset(seed=0, options={"task": other})
    assert info["task"] == other and info["domain"] == "finance"


def test_a_task_outside_the_split_is_refused_unless_any_task_is_allowed():
    held_out = gym.make(MULTI, held_out_domain="video").unwrapped.splits.test_domain[0]
    for env in (
        gym.make(MULTI, held_out_domain="video"),
        gym.make_vec(MULTI, num_envs=4, vectorization_mode="vector_entry_point", held_out_domain="video"),
    ):
        with pytest.raises(ValueError, match="not one of this env's 'train' tasks; make the env with any_task=True"):
            env.reset(seed=0, options={"task": held_out})
    gym.make(MULTI, held_out_domain="video", any_task=True).reset(seed=0, options={"task": held_out})


@pytest.mark.parametrize(
    "kwargs, problem",
    [
        ({"split": "training"}, "unknown split 'training'; accepted: train, validation"),
        ({"split": "test_domain"}, "needs a held_out_domain"),
        ({"held_out_domain": "cooking"}, "held_out_domain 'cooking' is not one of the domains"),
        ({"domains": ("news", "cooking")}, "unknown domain"),
        ({"slate_size": 40}, "slate_size .* must be <= num_candidates"),
        ({"num_variants": -2}, "num_variants must be in \\[0, 1000\\]"),
        ({"hide_domain": "yes"}, "hide_domain must be True or False"),
        ({"any_task": 1}, "any_task must be True or False"),
    ],
)
def test_bad_arguments_name_the_problem(kwargs, problem):
    with pytest.raises(ValueError, match=problem):
        gym.make(MULTI, **kwargs)


def test_bad_task_option_is_rejected():
    env = gym.make(MULTI, domains=("news", "video"))
    with pytest.raises(ValueError, match="task domain 'finance' does not match this env's domain\\(s\\): news, video"):
        env.reset(options={"task": Task(domain="finance")})


def make_multi_vec(num_envs: int, **kwargs) -> MultiDomainVectorEnv:
    return gym.make_vec(MULTI, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)


def test_vector_users_draw_split_tasks_and_pad_like_the_single_env():
    envs = make_multi_vec(600)
    obs, _ = envs.reset(seed=0)
    train = make_splits(DOMAINS).train
    assert set(envs.user_tasks) <= set(train)
    counts = np.array([sum(task.domain == domain for task in envs.user_tasks) for domain in DOMAINS])
    assert np.all(np.abs(counts - 100) < 4 * np.sqrt(600 * (1 / 6) * (5 / 6))), counts  # uniform over the split
    single = gym.make(MULTI).unwrapped
    for user in (0, 1, 2):
        task, group = envs.user_tasks[user], envs.groups[envs.user_tasks[user]]
        own = envs.world(task).observe(group.sessions)
        row = int(np.flatnonzero(group.users == user)[0])
        expected = single.padded({key: value[row : row + 1] for key, value in own.items()}, task.domain)
        for key, value in expected.items():
            np.testing.assert_array_equal(obs[key][user], value[0])
    assert envs.observation_space.contains(obs)


def test_vector_steps_are_reproducible_and_restarted_users_draw_new_tasks():
    a, b = make_multi_vec(32, max_episode_steps=1), make_multi_vec(32, max_episode_steps=1)
    a.reset(seed=3), b.reset(seed=3)
    for step in range(4):  # with 1 step per episode, every user ends an episode, then restarts, and so on
        before = list(a.user_tasks)
        action = a.action_space.sample()
        obs, reward, terminated, truncated, info = a.step(action)
        other = b.step(action)
        for key in obs:
            np.testing.assert_array_equal(obs[key], other[0][key])
        np.testing.assert_array_equal(reward, other[1])
        if step % 2 == 0:
            assert (terminated | truncated).all() and info["_clicked"].all() and a.user_tasks == before
        else:
            assert not reward.any() and not (terminated | truncated).any() and not info["_clicked"].any()
            assert np.all(obs["history_ids"] == -1) and a.user_tasks != before
            assert set(a.user_tasks) <= set(a.tasks) and list(info["domain"]) == [t.domain for t in a.user_tasks]


def test_vector_reset_task_option_and_bad_input_change_nothing():
    envs = make_multi_vec(6, domains=("news", "video"), any_task=True)
    obs, _ = envs.reset(seed=1, options={"task": Task(domain="news", cohort=1)})
    assert set(envs.user_tasks) == {Task(domain="news", cohort=1)}
    assert (obs["domain"][:, 0] == 1).all()
    sessions = {task: group.sessions.candidates.copy() for task, group in envs.groups.items()}
    with pytest.raises(ValueError, match="task domain 'finance' does not match this env's domain\\(s\\): news, video"):
        envs.reset(options={"task": Task(domain="finance")})
    with pytest.raises(ValueError, match="shape"):
        envs.step(np.zeros((6, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="out of range"):
        envs.step(np.full((6, 3), 20))
    assert set(envs.user_tasks) == {Task(domain="news", cohort=1)}
    for task, candidates in sessions.items():
        np.testing.assert_array_equal(envs.groups[task].sessions.candidates, candidates)
    with pytest.raises(RuntimeError, match="reset"):
        make_multi_vec(2).step(np.zeros((2, 3), dtype=np.int64))
