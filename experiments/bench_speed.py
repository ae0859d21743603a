"""Simulation speed: single env through ``gym.make``, the native vector env, RecSim side by side, memory.

Prints, in one run, a Markdown table of single-env steps/s for every registered id, vector-env
user-steps/s for B = 1, 64, 1024, 4096, RecSim interest-evolution steps/s with the same slate size
and candidate count (when ``--recsim-python`` names an interpreter that has ``recsim-no-tf``, which
needs ``gym`` 0.26 and ``six`` and must never be a dependency of this project), and the resident
memory before and after long runs. Each rate is the best of ``--repeats`` runs (as ``timeit`` reports):
the machine's speed varies from minute to minute, and a short run caught in a slow spell says little. The
runs go in rounds, every figure once per round, so the runs of one figure lie minutes apart. In each round
RecSim runs just before ``VideoInterestEvolution-v0``'s single env, so each round also gives a ratio of
the two measured side by side, in the same spell; the median of these ratios is the comparison's figure.

Usage:
    python experiments/bench_speed.py [--steps 20000] [--repeats 3] [--memory-steps 1000000]
        [--recsim-python /path/to/venv/bin/python]
"""

from __future__ import annotations

import argparse
import functools
import os
import resource
import statistics
import subprocess
import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
from tqdm.auto import tqdm

import recsim_meta

BATCH_SIZES = (1, 64, 1024, 4096)
RECSIM_ID = "recsim_meta/VideoInterestEvolution-v0"
RECSIM_SCRIPT = """
import time, warnings
warnings.filterwarnings("ignore")
from recsim.environments import interest_evolution
env = interest_evolution.create_environment(
    {{"num_candidates": {candidates}, "slate_size": {slate}, "resample_documents": True, "seed": 0}}
)
env.reset()
action = list(range({slate}))
start = time.perf_counter()
for _ in range({steps}):
    if env.step(action)[2]:
        env.reset()
print({steps} / (time.perf_counter() - start))
"""


def resident_mib() -> float:
    """Current resident memory of this process in MiB (Linux), else the peak."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return peak_mib()


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def single_steps_per_second(env_id: str, steps: int, seed: int = 0) -> float:
    env = gym.make(env_id)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    actions = [env.action_space.sample() for _ in range(min(steps, 10_000))]
    env.step(actions[0])  # untimed: the first step loads the compiled loops
    start = time.perf_counter()
    for step in range(steps):
        _, _, terminated, truncated, _ = env.step(actions[step % len(actions)])
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def vector_user_steps_per_second(
    env_id: str, num_envs: int, user_steps: int, max_steps: int | None = None, seed: int = 0
) -> float:
    envs = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point")
    envs.reset(seed=seed)
    envs.action_space.seed(seed)
    actions = [envs.action_space.sample() for _ in range(16)]
    steps = min(max(user_steps // num_envs, 200), max_steps or user_steps)
    envs.step(actions[-1])  # untimed: the first step loads the compiled loops
    start = time.perf_counter()
    for step in range(steps):
        envs.step(actions[step % len(actions)])
    return steps * num_envs / (time.perf_counter() - start)


def recsim_steps_per_second(python: str, steps: int) -> float:
    config = recsim_meta.make_config("video_interest_evolution")
    script = RECSIM_SCRIPT.format(candidates=config.num_candidates, slate=config.slate_size, steps=steps)
    result = subprocess.run([python, "-c", script], capture_output=True, text=True, check=True, timeout=1800)
    return float(result.stdout.strip().splitlines()[-1])


def measure_in_rounds(rates: dict[Any, Callable[[], float]], repeats: int) -> dict[Any, list[float]]:
    """``repeats`` measurements of each of ``rates``, taken in rounds: each rate once per round, in the
    order of ``rates``. A slow spell of the machine rarely catches every measurement of one figure, and
    neighbours in the order are measured seconds apart in each round."""
    runs: dict[Any, list[float]] = {key: [] for key in rates}
    with tqdm(total=repeats * len(rates), desc="measurements") as bar:
        for _ in range(repeats):
            for key, rate in rates.items():
                runs[key].append(rate())
                bar.update()
    return runs


def memory_row(label: str, run) -> str:
    before = resident_mib()
    run()
    return f"| {label} | {before:,.0f} | {resident_mib():,.0f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000, help="single-env steps (vector: 40x as many user-steps)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure; the best one is reported")
    parser.add_argument("--memory-steps", type=int, default=1_000_000, help="steps of the memory runs")
    parser.add_argument("--recsim-python", help="python interpreter with recsim-no-tf installed")
    args = parser.parse_args()

    rates: dict[Any, Callable[[], float]] = {}
    if args.recsim_python:
        rates["recsim"] = functools.partial(recsim_steps_per_second, args.recsim_python, args.steps)
    for env_id in sorted(recsim_meta.ENV_IDS, key=lambda env_id: env_id != RECSIM_ID):  # RecSim's setting next
        rates[env_id] = functools.partial(single_steps_per_second, env_id, args.steps)
        for b in BATCH_SIZES:
            rates[env_id, b] = functools.partial(vector_user_steps_per_second, env_id, b, 40 * args.steps, args.steps)
    runs = measure_in_rounds(rates, args.repeats)
    best = {key: max(values) for key, values in runs.items()}

    print("Single env through gym.make (random actions):\n\n| env id | steps/s |\n|---|---|")
    for env_id in recsim_meta.ENV_IDS:
        print(f"| {env_id} | {best[env_id]:,.0f} |")

    print("\nVector env, user-steps/s by batch size B:\n")
    print("| env id | " + " | ".join(f"B={b}" for b in BATCH_SIZES) + " |")
    print("|---|" + "---|" * len(BATCH_SIZES))
    for env_id in recsim_meta.ENV_IDS:
        print(f"| {env_id} | " + " | ".join(f"{best[env_id, b]:,.0f}" for b in BATCH_SIZES) + " |")

    if args.recsim_python:
        ratios = [ours / recsim for ours, recsim in zip(runs[RECSIM_ID], runs["recsim"], strict=True)]
        print(f"\nRecSim interest evolution (same slate size and candidates): {best['recsim']:,.0f} steps/s")
        print(f"(rounds: {', '.join(f'{rate:,.0f}' for rate in runs['recsim'])}; {RECSIM_ID} just after:")
        print(f"{', '.join(f'{rate:,.0f}' for rate in runs[RECSIM_ID])}).")
        print(f"{RECSIM_ID} single env / RecSim, side by side in each round:")
        print(f"{', '.join(f'{ratio:.2f}x' for ratio in ratios)}; median {statistics.median(ratios):.2f}x")
        print(f"(best / best: {best[RECSIM_ID] / best['recsim']:.2f}x).")

    print("\nResident memory (MiB) before and after long runs:\n\n| run | before | after |\n|---|---|---|")
    print(
        memory_row(
            f"single env, {args.memory_steps:,} steps", lambda: single_steps_per_second(RECSIM_ID, args.memory_steps)
        )
    )
    print(
        memory_row(
            f"vector env B=4096, {args.memory_steps:,} user-steps",
            lambda: vector_user_steps_per_second(RECSIM_ID, 4096, args.memory_steps),
        )
    )
    print(f"\nPeak resident memory: {peak_mib():,.0f} MiB")


if __name__ == "__main__":
    main()
