"""The greedy one-step model: a ridge regression of a shown item's immediate reward on its features."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from recsim_meta.agents.baselines import top_k_action


class GreedyOneStepModel:
    """Learns the immediate reward of showing a candidate from task steps, then recommends the top K predictions.

    Every shown candidate is a training example: its observable features (plus a bias) against the step's
    reward if it was the clicked one, else 0. ``learn`` acts epsilon-greedily (uniformly random slates until
    the first fit) and refits the ridge regression in closed form at the end of every episode. It is myopic
    by construction: the benchmark's "what a bandit gets" reference.

    Args:
        env: the env it learns and acts in (its ``feature_names`` give the feature layout).
        epsilon: probability of a uniformly random slate while learning.
        ridge: L2 penalty of the regression.
        seed: seed of the exploration and of the first reset.
    """

    def __init__(self, env: gym.Env, epsilon: float = 0.1, ridge: float = 1.0, seed: int | None = None) -> None:
        if not 0.0 <= epsilon <= 1.0 or ridge <= 0:
            raise ValueError(f"need 0 <= epsilon <= 1 and ridge > 0, got epsilon={epsilon}, ridge={ridge}")
        self.env, self.epsilon, self.ridge, self.seed = env, epsilon, ridge, seed
        self.num_features = len(env.unwrapped.feature_names) + 1
        self.weights = np.zeros(self.num_features)
        self.gram = ridge * np.eye(self.num_features)
        self.target = np.zeros(self.num_features)
        self.rng = np.random.default_rng(seed)
        self.fitted = False

    def features(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        candidates = observation["candidate_features"].reshape(len(observation["candidate_ids"]), -1)
        return np.hstack([candidates, np.ones((len(candidates), 1))])

    def predict(
        self, observation: dict[str, np.ndarray], state: Any = None, episode_start: Any = None, deterministic=True
    ) -> tuple[np.ndarray | int, None]:
        return self._action(self.features(observation), explore=not deterministic), None

    def _action(self, features: np.ndarray, explore: bool) -> np.ndarray | int:
        """The top K predictions for candidates with ``features``; with ``explore``, epsilon-greedy."""
        scores = features @ self.weights
        if explore and (not self.fitted or self.rng.random() < self.epsilon):
            scores = self.rng.random(len(scores))
        return top_k_action(scores, self.env.action_space)

    def learn(self, total_timesteps: int) -> GreedyOneStepModel:
        """Run ``total_timesteps`` steps in the env, updating the regression at every episode end and at the last step."""
        observation, _ = self.env.reset(seed=self.seed)
        for step in range(total_timesteps):
            features = self.features(observation)
            action = self._action(features, explore=True)
            shown = np.unique(np.atleast_1d(action))
            rows, items = features[shown], observation["candidate_ids"][shown]
            observation, reward, terminated, truncated, info = self.env.step(action)
            targets = np.where(items == info["item"], reward, 0.0) if info["clicked"] else np.zeros(len(shown))
            self.gram += rows.T @ rows
            self.target += rows.T @ targets
            if terminated or truncated or step == total_timesteps - 1:
                self.weights = np.linalg.solve(self.gram, self.target)
                self.fitted = True
            if terminated or truncated:
                observation, _ = self.env.reset()
        return self
