"""Stable-baselines3 agents train on every registered env (smoke test)."""

import gymnasium as gym
from stable_baselines3 import DQN, PPO


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
