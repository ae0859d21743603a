"""stable-baselines3 PPO's env steps per second with the native VecEnv and with SB3's ``DummyVecEnv``.

For each number of envs B and each set of PPO settings, PPO (``MultiInputPolicy``, one torch thread) learns
``--steps`` env steps of ``--env`` through ``make_vec_env``'s ``DummyVecEnv`` and through ``NativeVecEnv``,
one after the other in this run; the table gives steps per second overall (learning, updates included), for
the rollouts alone (the time outside PPO's update), and the share of the time the update took. ``zoo`` is
the PPO entry of ``experiments/hyperparams/ppo.yml`` for the env (the quick benchmark's: small minibatches),
``scale`` that of ``experiments/hyperparams_scale/ppo.yml`` (the runs up to 10^6 steps: rollouts of 128 steps,
minibatches of 1024, 4 epochs), both with ``MultiInputPolicy``.

    python experiments/sb3_speed.py > docs/results/sb3_speed.md   # about 7 minutes
"""

from __future__ import annotations

import argparse
import time

from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

from recsim_meta.agents.sb3 import make_native_vec_env
from recsim_meta.agents.sb3.zoo import read_hyperparameters
from recsim_meta.threads import set_threads

SETTINGS = {"zoo": "experiments/hyperparams", "scale": "experiments/hyperparams_scale"}


def measure(vec_env, hyperparameters: dict, steps: int) -> tuple[float, float, float]:
    """Overall steps/s, rollout steps/s and the update's share of the time of PPO learning ``steps`` steps."""
    arguments = dict(hyperparameters)
    policy = arguments.pop("policy")
    arguments.pop("n_envs")  # the VecEnv sets the number of envs
    model = PPO(policy, vec_env, seed=0, device="cpu", **arguments)
    update_seconds = 0.0
    train = model.train

    def timed_train() -> None:
        nonlocal update_seconds
        start = time.perf_counter()
        train()
        update_seconds += time.perf_counter() - start

    model.train = timed_train
    model.learn(min(steps, 4 * vec_env.num_envs * arguments.get("n_steps", 2048)))  # warm-up: compiled loops, caches
    update_seconds = 0.0
    model.num_timesteps = 0
    start = time.perf_counter()
    model.learn(steps, reset_num_timesteps=True)
    total = time.perf_counter() - start
    done = model.num_timesteps
    return done / total, done / (total - update_seconds), update_seconds / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="recsim_meta/Video-v0")
    parser.add_argument("--envs", type=int, nargs="+", default=[8, 64], help="numbers of envs B (default 8 64)")
    parser.add_argument("--steps", type=int, default=100_000, help="env steps per measurement (default 100000)")
    args = parser.parse_args()
    set_threads(1)
    print(f"PPO (MultiInputPolicy, one torch thread) on {args.env}, {args.steps:,} env steps per row:\n")
    print("| PPO settings | B | VecEnv | steps/s | rollout steps/s | update's share | native / Dummy |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for name, folder in SETTINGS.items():
        hyperparameters = {**read_hyperparameters(folder, "ppo", args.env), "policy": "MultiInputPolicy"}
        for envs in args.envs:
            dummy = measure(make_vec_env(args.env, n_envs=envs, seed=0), hyperparameters, args.steps)
            native = measure(make_native_vec_env(args.env, envs, seed=0), hyperparameters, args.steps)
            for label, (overall, rollout, share) in (("DummyVecEnv", dummy), ("NativeVecEnv", native)):
                ratio = f"{native[0] / dummy[0]:.2f}x" if label == "NativeVecEnv" else ""
                print(
                    f"| {name} | {envs} | {label} | {overall:,.0f} | {rollout:,.0f} | {share:.0%} | {ratio} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
