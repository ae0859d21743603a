"""Single-env steps per second through ``gym.make`` for every registered id (random actions).

Usage: python experiments/bench_env_speed.py [--steps 20000]
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np

import recsim_meta


def steps_per_second(env_id: str, steps: int, seed: int = 0) -> float:
    env = gym.make(env_id)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    actions = [env.action_space.sample() for _ in range(steps)]
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    args = parser.parse_args()
    print("| env id | steps/s |\n|---|---|")
    for env_id in recsim_meta.ENV_IDS:
        print(f"| {env_id} | {np.round(steps_per_second(env_id, args.steps)):,.0f} |")


if __name__ == "__main__":
    main()
