"""Time the BERT recommender with the default config on this CPU: one decision, and one pretraining step.

    python experiments/bert_timing.py

Prints a Markdown table of medians over ``--repeats`` runs for 1 and 2 torch threads:
``predict`` latency for one observation of ``MultiDomain-v0`` (encode + forward + top-K), a batched
forward of 256 observations, and a pretraining step (``pretraining_step``: both forward passes,
backward, gradient clipping, AdamW) of 256 logged rows.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np
import torch

from recsim_meta.agents import RecommenderPolicy
from recsim_meta.agents.logged_data import collect_logs
from recsim_meta.agents.pretraining import LogEncoder, pretraining_step


def median_ms(work: Callable[[], object], repeats: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        work()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    env = gym.make("recsim_meta/MultiDomain-v0")
    log = collect_logs(env, 20, progress=False)
    observation, _ = env.reset(seed=0)
    policy = RecommenderPolicy.for_env(env, seed=0)
    config = policy.model.config
    parameters = sum(p.numel() for p in policy.model.parameters())
    encoder = LogEncoder(config, log)
    rows = np.random.default_rng(0).integers(len(log), size=256)
    batch = encoder.batch(rows)
    optimizer = torch.optim.AdamW(policy.model.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(0)

    def train_step() -> None:
        pretraining_step(policy.model, encoder, optimizer, rows, 0.2, generator)

    @torch.no_grad()
    def batched_forward() -> None:
        policy.model.eval()
        policy.model(batch)

    print(
        f"Default config: hidden {config.hidden_size}, {config.num_layers} layers, {config.num_heads} heads, "
        f"history {config.history_length}, vocabulary {config.vocab_size}, {parameters:,} parameters; "
        f"medians of {args.repeats} runs (ms)\n"
    )
    print("| torch threads | predict, 1 observation | forward, 256 observations | pretraining step, 256 rows |")
    print("|---:|---:|---:|---:|")
    for threads in (1, 2):
        torch.set_num_threads(threads)
        cells = [
            median_ms(lambda: policy.predict(observation, deterministic=True), args.repeats),
            median_ms(batched_forward, args.repeats),
            median_ms(train_step, max(args.repeats // 5, 5)),
        ]
        print(f"| {threads} | " + " | ".join(f"{c:.2f}" for c in cells) + " |")


if __name__ == "__main__":
    main()
