"""Every registered id: Gymnasium and SB3 checks, vector envs, pickling, determinism, rendering."""

import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import recsim_meta


def rollout(env: gym.Env, seed: int, steps: int) -> list:
    """Observations, rewards and flags of ``steps`` steps with seeded random actions (resetting as needed)."""
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    trajectory = [obs]
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        trajectory.append((obs, reward, terminated, truncated, info))
        if terminated or truncated:
            trajectory.append(env.reset()[0])
    return trajectory


def assert_same(a, b) -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_same(a[key], b[key])
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same(x, y)
    else:
        np.testing.assert_array_equal(a, b)


def test_registered_ids_cover_the_six_domains_and_the_multi_domain_env():
    domains = ("Ecommerce", "News", "Video", "Social", "Game", "Finance")
    expected = {f"recsim_meta/{name}-v0" for name in (*domains, "VideoInterestEvolution", "MultiDomain")}
    assert set(recsim_meta.ENV_IDS) == expected
    for env_id in recsim_meta.ENV_IDS:
        assert env_id in gym.registry


def test_class_docstring_documents_the_env_gymnasium_style(env_id):
    env = gym.make(env_id).unwrapped
    doc = type(env).__doc__
    for section in ("Description", "Action Space", "Observation Space", "Rewards", "Episode End", "Arguments"):
        assert f"## {section}" in doc, section
    assert env_id in doc
    for key, space in env.observation_space.items():
        assert f"``{key}``" in doc, key
        if env_id != "recsim_meta/MultiDomain-v0":  # its widths depend on the domains chosen
            assert f"| ({space.shape[0]},) |" in doc, (key, space.shape)


@pytest.mark.parametrize("render_mode", ["ansi", "rgb_array"])
def test_gymnasium_check_env_without_warnings(env_id, render_mode):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = gym.make(env_id, render_mode=render_mode)
        gym_check_env(env.unwrapped)


@pytest.mark.parametrize("render_mode", [None, "rgb_array"])
def test_sb3_check_env_without_warnings(env_id, render_mode):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sb3_check_env(gym.make(env_id, render_mode=render_mode).unwrapped, warn=True)


def test_render_rgb_array_is_a_picture_of_the_slate_and_the_user(env_id):
    env = gym.make(env_id, render_mode="rgb_array")
    env.reset(seed=0)
    first = env.render()
    assert first.shape == (240, 320, 3) and first.dtype == np.uint8
    for _ in range(5):
        env.step(env.action_space.sample())
    picture = env.render()
    assert picture.shape == first.shape and not np.array_equal(picture, first)  # the slate and the user changed


def test_sb3_make_vec_env_works_on_every_id(env_id):
    from stable_baselines3.common.env_util import make_vec_env

    envs = make_vec_env(env_id, n_envs=2, seed=0)  # SB3 asks for render_mode="rgb_array"
    envs.reset()
    envs.step(np.array([envs.action_space.sample() for _ in range(2)]))
    assert envs.render_mode == "rgb_array"


def test_record_video_writes_a_video_of_an_episode(env_id, tmp_path):
    pytest.importorskip("moviepy", reason="RecordVideo writes with moviepy (the dev extra installs it)")
    from gymnasium.wrappers import RecordVideo

    env = RecordVideo(gym.make(env_id, render_mode="rgb_array"), str(tmp_path / "videos"), disable_logger=True)
    env.reset(seed=0)
    for _ in range(20):
        *_, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            break
    env.close()
    assert list((tmp_path / "videos").glob("*.mp4"))


def test_single_item_settings_use_discrete_actions(env_id):
    env = gym.make(env_id, slate_size=1)
    assert isinstance(env.action_space, gym.spaces.Discrete)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check_env(env.unwrapped)
        sb3_check_env(env.unwrapped, warn=True)


def test_make_vec(env_id):
    envs = gym.make_vec(env_id, num_envs=4)
    obs, _ = envs.reset(seed=0)
    assert obs["candidate_ids"].shape[0] == 4
    for _ in range(5):
        obs, reward, terminated, truncated, _ = envs.step(envs.action_space.sample())
        assert reward.shape == (4,)
    envs.close()


def test_pickle_round_trip_continues_identically(env_id):
    env = gym.make(env_id)
    env.reset(seed=3)
    for _ in range(5):
        env.step(env.action_space.sample())
    clone = pickle.loads(pickle.dumps(env))
    action = env.action_space.sample()
    assert_same(env.step(action), clone.step(action))


def test_same_seed_same_trajectory_for_200_steps(env_id):
    assert_same(rollout(gym.make(env_id), 7, 200), rollout(gym.make(env_id), 7, 200))


def test_different_seed_differs(env_id):
    a, b = rollout(gym.make(env_id), 7, 50), rollout(gym.make(env_id), 8, 50)
    assert not np.array_equal(a[0]["candidate_ids"], b[0]["candidate_ids"])
    rewards = [[step[1] for step in trajectory if isinstance(step, tuple)] for trajectory in (a, b)]
    assert rewards[0] != rewards[1]


def test_signals_are_zero_without_a_click(env_id):
    """The response's signals of a skipped slate (the compiled ``where_clicked``); ``unsuitable`` counts what
    was shown, clicked or not."""
    env = gym.make(env_id)
    env.reset(seed=3)
    env.action_space.seed(3)
    seen = {True: 0, False: 0}
    for _ in range(300):
        _, _, terminated, truncated, info = env.step(env.action_space.sample())
        seen[info["clicked"]] += 1
        signals = {k: v for k, v in info.items() if k not in ("clicked", "position", "item", "unsuitable", "domain")}
        if not info["clicked"]:
            assert all(value == 0.0 for value in signals.values()), signals
        if terminated or truncated:
            env.reset()
    assert seen[True] and seen[False]


def test_render_ansi_shows_slate_choice_and_response(env_id):
    env = gym.make(env_id, render_mode="ansi")
    env.reset(seed=0)
    for _ in range(20):
        _, _, terminated, truncated, info = env.step(env.action_space.sample())
        if info["clicked"]:
            break
    text = env.render()
    assert "slate of" in text and "response:" in text and "reward=" in text
    assert ("<- chosen" in text) == info["clicked"]


def test_ground_truth_is_exposed(env_id):
    env = gym.make(env_id)
    env.reset(seed=0)
    unwrapped = env.unwrapped
    assert env.action_space.contains(
        np.asarray(unwrapped.oracle_slate(), dtype=np.int64).reshape(env.action_space.shape)
    )
    edges = unwrapped.kg_edges()
    assert edges.ndim == 2 and edges.shape[1] == 3
    if len(edges):
        assert edges[:, 1].max() < len(unwrapped.kg_relations)
        assert unwrapped.knowledge_graph.number_of_nodes() >= unwrapped.config.num_items
