"""Stable-baselines3 on every registered env: agents train, the native VecEnv keeps SB3's contract and the
statistics of SB3's own vector env, and the slate policy trains, saves and loads for PPO, A2C and DQN."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import A2C, DQN, PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecMonitor, VecNormalize

from recsim_meta.agents.sb3 import CandidateScorer, NativeVecEnv, SlateDQNPolicy, SlatePolicy, make_native_vec_env


def test_ppo_trains_for_a_few_thousand_steps(env_id):
    model = PPO("MultiInputPolicy", gym.make(env_id), n_steps=512, batch_size=128, n_epochs=2, seed=0, device="cpu")
    model.learn(total_timesteps=2048)
    env = gym.make(env_id)
    obs, _ = env.reset(seed=0)
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(action)


def test_dqn_runs_on_single_item_settings():
    env = gym.make("recsim_meta/Video-v0", slate_size=1)
    model = DQN("MultiInputPolicy", env, learning_starts=200, buffer_size=1000, seed=0, device="cpu")
    model.learn(total_timesteps=500)
    obs, _ = env.reset(seed=0)
    action, _ = model.predict(obs, deterministic=True)
    env.step(action)


# --------------------------------------------------------------------------- the native VecEnv
def native(env_id: str, n_envs: int = 16, seed: int = 0, **kwargs):
    return make_native_vec_env(env_id, n_envs, seed=seed, **kwargs)


def test_native_vec_env_keeps_sb3s_vec_env_contract(env_id):
    envs = native(env_id)
    observation = envs.reset()
    assert set(observation) == set(envs.observation_space.spaces)
    assert all(value.shape == (16, *envs.observation_space[key].shape) for key, value in observation.items())
    ended = 0
    for _ in range(150):
        observation, rewards, dones, infos = envs.step(np.array([envs.action_space.sample() for _ in range(16)]))
        assert rewards.dtype == np.float32 and dones.shape == (16,) and len(infos) == 16
        for user in np.flatnonzero(dones):
            ended += 1
            final = infos[user]["terminal_observation"]
            assert envs.observation_space.contains(final) and "TimeLimit.truncated" in infos[user]
            assert observation["history_ids"][user][-1] == -1  # the user started a new session at once
    assert ended > 0
    assert envs.get_attr("num_envs") == [16] * 16 and envs.env_is_wrapped(VecMonitor) == [False] * 16


def test_native_vec_env_seeds_reproduce_and_differ():
    def first_steps(seed):
        envs = native("recsim_meta/News-v0", 8, seed=seed)
        envs.reset()
        return [envs.step(np.tile(np.arange(3), (8, 1)))[1] for _ in range(5)]

    np.testing.assert_array_equal(first_steps(3), first_steps(3))
    assert not np.array_equal(first_steps(3), first_steps(4))


def test_native_vec_env_needs_same_step_autoreset():
    with pytest.raises(ValueError, match="same_step"):
        NativeVecEnv(gym.make_vec("recsim_meta/News-v0", num_envs=2, vectorization_mode="vector_entry_point"))


def episode_statistics(vec_env, episodes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Returns and lengths of the first ``episodes`` episodes of random slates (``VecMonitor``)."""
    monitored = VecMonitor(vec_env)
    monitored.seed(seed)
    monitored.reset()
    rng = np.random.default_rng(seed)
    returns, lengths = [], []
    space = vec_env.action_space
    while len(returns) < episodes:
        actions = np.argsort(rng.random((vec_env.num_envs, space.nvec[0])), axis=1)[:, : len(space.nvec)]
        *_, dones, infos = monitored.step(actions)
        for user in np.flatnonzero(dones):
            returns.append(infos[user]["episode"]["r"])
            lengths.append(infos[user]["episode"]["l"])
    return np.array(returns[:episodes]), np.array(lengths[:episodes])


@pytest.mark.parametrize("env_id", ["recsim_meta/Video-v0", "recsim_meta/Finance-v0", "recsim_meta/MultiDomain-v0"])
def test_native_vec_env_matches_make_vec_envs_episode_statistics(env_id):
    native_returns, native_lengths = episode_statistics(native(env_id, 32), 400, 0)
    dummy_returns, dummy_lengths = episode_statistics(make_vec_env(env_id, n_envs=8), 400, 1)
    for a, b in ((native_returns, dummy_returns), (native_lengths, dummy_lengths)):
        standard_error = np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
        assert abs(a.mean() - b.mean()) < 4 * standard_error, (a.mean(), b.mean(), standard_error)


def test_vec_normalize_and_vec_monitor_wrap_it_and_ppo_learns_through_them():
    envs = VecNormalize(VecMonitor(native("recsim_meta/Video-v0", 16)))
    model = PPO("MultiInputPolicy", envs, n_steps=32, batch_size=128, n_epochs=1, seed=0, device="cpu")
    model.learn(1024)
    assert model.num_timesteps >= 1024


# --------------------------------------------------------------------------- the slate policy
@pytest.mark.parametrize(
    "algorithm, policy, overrides",
    [(PPO, SlatePolicy, {}), (A2C, SlatePolicy, {}), (DQN, SlateDQNPolicy, {"slate_size": 1})],
)
def test_the_slate_policy_trains_saves_and_loads(algorithm, policy, overrides, tmp_path):
    envs = native("recsim_meta/News-v0", 8, **overrides)
    extra = {"learning_starts": 64} if algorithm is DQN else {"n_steps": 32}
    model = algorithm(policy, envs, seed=0, device="cpu", policy_kwargs={"hidden_size": 32}, **extra)
    model.learn(256)
    model.save(tmp_path / "model")
    loaded = algorithm.load(tmp_path / "model", device="cpu")
    observation = envs.reset()
    np.testing.assert_array_equal(
        model.predict(observation, deterministic=True)[0], loaded.predict(observation, deterministic=True)[0]
    )
    assert envs.action_space.contains(model.predict({k: v[0] for k, v in observation.items()}, deterministic=True)[0])


def test_candidate_scores_follow_their_candidates_when_the_candidates_are_permuted():
    env = gym.make("recsim_meta/Video-v0")
    scorer = CandidateScorer(env.observation_space, outputs_per_candidate=3, hidden_size=16)
    observation, _ = env.reset(seed=0)
    batch = {k: torch.as_tensor(v[None], dtype=torch.float32) for k, v in observation.items()}
    order = np.random.default_rng(0).permutation(20)
    permuted = dict(batch)
    permuted["candidate_features"] = batch["candidate_features"].reshape(1, 20, -1)[:, order].reshape(1, -1)
    scores, again = (scorer(b)[:, :60].reshape(3, 20) for b in (batch, permuted))
    torch.testing.assert_close(again, scores[:, order])
    torch.testing.assert_close(scorer(permuted)[:, 60:], scorer(batch)[:, 60:])  # the value's features do not move
