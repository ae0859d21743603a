"""Bad actions, overrides and options raise errors that name the problem, and change nothing."""

import copy

import gymnasium as gym
import numpy as np
import pytest

from recsim_meta import Task


def bad_actions(env: gym.Env) -> list[tuple[object, str]]:
    m = env.unwrapped.config.num_candidates
    k = env.unwrapped.config.slate_size
    good = np.arange(k)
    return [
        (np.full(k, m), "out of range"),
        (np.full(k, -1), "out of range"),
        (np.full(k, 2**64 - 1, dtype=np.uint64), "out of range"),
        (np.arange(k + 1), "shape"),
        (np.zeros((k, 1), dtype=np.int64), "shape"),
        (good.astype(np.float32), "dtype"),
        (np.ones(k, dtype=bool), "dtype"),
        ("0", "dtype"),
        ([0, [1]], "invalid action"),
    ]


@pytest.mark.parametrize("slate_size", [1, None])
def test_bad_action_raises_and_leaves_state_unchanged(env_id, slate_size):
    overrides = {} if slate_size is None else {"slate_size": slate_size}
    env = gym.make(env_id, **overrides)
    twin = gym.make(env_id, **overrides)
    env.reset(seed=1)
    twin.reset(seed=1)
    for action, problem in bad_actions(env):
        before = copy.deepcopy(env.unwrapped.sessions)
        with pytest.raises(ValueError, match=problem):
            env.step(action)
        after = env.unwrapped.sessions
        np.testing.assert_array_equal(before.candidates, after.candidates)
        np.testing.assert_array_equal(before.users.interest, after.users.interest)
        np.testing.assert_array_equal(before.history_ids, after.history_ids)
    # the env still works, and exactly as one that never saw a bad action
    action = env.action_space.sample()
    a, b = env.step(action), twin.step(action)
    for key in a[0]:
        np.testing.assert_array_equal(a[0][key], b[0][key])
    assert a[1:4] == b[1:4]


def test_a_response_signal_without_one_value_per_session_is_refused():
    env = gym.make("recsim_meta/Video-v0").unwrapped
    env.reset(seed=0)
    env.world = copy.copy(env.world)  # worlds are shared by every env of the task: patch this env's own
    respond = env.world.respond
    env.world.respond = lambda consumption, draw: respond(consumption, draw)._replace(signals={"watch_time": 1.0})
    with pytest.raises(ValueError, match=r"response signal has shape \(\); expected \(1,\)"):
        env.step(env.action_space.sample())


def test_step_before_reset_is_an_error():
    env = gym.make("recsim_meta/Video-v0", disable_env_checker=True).unwrapped
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(3, dtype=np.int64))


@pytest.mark.parametrize(
    "overrides, problem",
    [
        ({"slate_sise": 3}, "unknown config key.*slate_sise.*accepted keys"),
        ({"slate_size": 30}, "slate_size .* must be <= num_candidates"),
        ({"num_candidates": -2}, r"num_candidates must be in \[1, 1024\]"),
        ({"num_items": 0}, r"num_items must be in \[1, 4096\]"),
        ({"slate_size": 2.5}, "slate_size must be an integer"),
        ({"time_budget": float("nan")}, "time_budget must be a finite number"),
        ({"choice_model": "probit"}, "unknown choice_model 'probit'; accepted: mnl, cascade, proportional"),
        ({"fatigue_decay": 1.5}, r"fatigue_decay must be in \[0, 1\]"),
        ({"num_candidates": 1000, "num_items": 999}, "num_candidates .* must be <= num_items"),
        ({"related_candidates": 99}, "related_candidates"),
    ],
)
def test_bad_overrides_name_the_problem(env_id, overrides, problem):
    with pytest.raises(ValueError, match=problem):
        gym.make(env_id, **overrides)


@pytest.mark.filterwarnings("ignore:.*render_mode")
def test_bad_render_mode_and_reset_options():
    with pytest.raises(ValueError, match="render_mode"):
        gym.make("recsim_meta/Video-v0", render_mode="svg")  # "human" works: Gymnasium shows rgb_array frames
    env = gym.make("recsim_meta/Video-v0")
    with pytest.raises(ValueError, match="unknown reset option"):
        env.reset(options={"tsk": 1})
    with pytest.raises(ValueError, match="must be a recsim_meta Task"):
        env.reset(options={"task": "video"})
    with pytest.raises(ValueError, match="task domain 'ecommerce' does not match this env's domain\\(s\\): video"):
        env.reset(options={"task": Task(domain="ecommerce")})
    with pytest.raises(ValueError, match="kg_strength"):
        Task(domain="video", kg_strength=-1.0)
