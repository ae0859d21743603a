"""What a policy's slates look like: intra-list diversity and catalogue coverage (from ground-truth item vectors)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


class SlateMetrics:
    """An ``on_step`` observer for ``run_episodes`` that records the items each slate shows.

    - ``diversity``: intra-list diversity, the mean over slates of the mean pairwise cosine distance
      ``1 - cos(v_i, v_j)`` between the latent vectors of the slate's distinct items (NaN for single items);
    - ``coverage``: distinct items recommended over all observed slates / catalogue size.

    Latent vectors come from ``env.unwrapped.catalog`` (ground truth, for metrics only); the env must be the
    one being stepped, and its task must not change while the observer runs.
    """

    def __init__(self, env: gym.Env) -> None:
        self.env = env.unwrapped
        self.diversities: list[float] = []
        self.items: set[int] = set()

    def __call__(self, observation: dict[str, np.ndarray], action: Any) -> None:
        positions = np.unique(np.atleast_1d(np.asarray(action)))  # a repeated position is an empty slot
        items = observation["candidate_ids"][positions]
        self.items.update(items.tolist())
        if len(items) > 1:
            vectors = self.env.catalog.vectors[items]
            vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            distance = 1.0 - vectors @ vectors.T
            self.diversities.append(float(distance[np.triu_indices(len(items), 1)].mean()))

    @property
    def diversity(self) -> float:
        return float(np.mean(self.diversities)) if self.diversities else float("nan")

    @property
    def coverage(self) -> float:
        return len(self.items) / self.env.catalog.num_items
