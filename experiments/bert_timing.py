"""Time the BERT recommender with the default config: one decision, one pretraining step, one meta-training iteration.

    python experiments/bert_timing.py [--device cpu] [--repeats 50] [--meta-repeats 3] [--set KEY=VALUE ...]

Prints a Markdown table of medians over ``--repeats`` runs for 1 and 2 torch threads: ``predict`` latency
for one observation of ``MultiDomain-v0`` (encode + forward + top-K), a batched forward of 256
observations, a pretraining step (``pretraining_step``: both forward passes, backward, gradient clipping,
AdamW) of 256 logged rows, and (median of ``--meta-repeats``) one meta-training iteration of the quick
config (``experiments/meta_quick.yaml``: its model sizes, memory, tasks, support and query episodes and PPO
epochs, from an untrained model; ``--set`` overrides its keys, as in ``meta_quality.py``), whose episodes are
stepped on the CPU whatever the ``--device`` (``auto``: CUDA when available) of the models.
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
from recsim_meta.agents.meta_rl import MetaRLAgent
from recsim_meta.agents.meta_training import MODEL_SIZES, MetaConfig, draw_tasks, make_optimizer
from recsim_meta.agents.pretraining import LogEncoder, pretraining_step
from recsim_meta.config_files import add_overrides_argument

QUICK_CONFIG = "experiments/meta_quick.yaml"


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
    parser.add_argument("--meta-repeats", type=int, default=3, help="meta-training iterations timed (default 3)")
    parser.add_argument("--device", default="cpu", help="where the model runs: cpu, cuda, auto (default cpu)")
    add_overrides_argument(parser)
    args = parser.parse_args()
    env = gym.make("recsim_meta/MultiDomain-v0")
    log = collect_logs(env, 20, progress=False)
    observation, _ = env.reset(seed=0)
    policy = RecommenderPolicy.for_env(env, seed=0, device=args.device)
    config = policy.model.config
    parameters = sum(p.numel() for p in policy.model.parameters())
    encoder = LogEncoder(config, log)
    rows = np.random.default_rng(0).integers(len(log), size=256)
    batch = encoder.batch(rows)
    optimizer = torch.optim.AdamW(policy.model.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(0)

    def train_step() -> None:
        pretraining_step(policy.model, encoder, optimizer, rows, 0.2, generator)  # .item() waits for the device

    @torch.no_grad()
    def batched_forward() -> None:
        policy.model.eval()
        policy.model(batch)  # the model moves the batch to its device
        synchronize(policy.device)

    meta_config = MetaConfig.from_yaml(QUICK_CONFIG, **args.set)
    meta_envs = [meta_config.make_env() for _ in range(meta_config.tasks_per_iteration)]
    sizes = {name: getattr(meta_config, name) for name in MODEL_SIZES}
    meta_policy = RecommenderPolicy.for_env(meta_envs[0], seed=0, device=args.device, **sizes)
    agent = MetaRLAgent(meta_policy.model, meta_envs[0], meta_config.settings, seed=0, device=args.device)
    meta_optimizer = make_optimizer(agent, meta_config)
    task_rng = np.random.default_rng(0)

    def meta_iteration() -> None:
        tasks, seeds = draw_tasks(task_rng, meta_envs[0].unwrapped.tasks, meta_config.tasks_per_iteration)
        c = meta_config
        agent.meta_step(
            tasks,
            c.support_episodes,
            c.query_episodes,
            seeds,
            meta_optimizer,
            c.ppo_epochs,
            update_fraction=c.update_fraction,
        )
        synchronize(agent.device)

    print(
        f"Default config: hidden {config.hidden_size}, {config.num_layers} layers, {config.num_heads} heads, "
        f"history {config.history_length}, vocabulary {config.vocab_size}, {parameters:,} parameters; "
        f"model on {describe(policy.device)}; medians of {args.repeats} runs (ms), "
        f"{args.meta_repeats} for the meta-training iteration (s)\n"
    )
    print(
        "| torch threads | predict, 1 observation | forward, 256 observations | pretraining step, 256 rows "
        "| meta-training iteration (s) |"
    )
    print("|---:|---:|---:|---:|---:|")
    for threads in (1, 2):
        torch.set_num_threads(threads)
        cells = [
            median_ms(lambda: policy.predict(observation, deterministic=True), args.repeats),
            median_ms(batched_forward, args.repeats),
            median_ms(train_step, max(args.repeats // 5, 5)),
            median_ms(meta_iteration, args.meta_repeats, warmup=1) / 1000,
        ]
        print(f"| {threads} | " + " | ".join(f"{c:.2f}" for c in cells) + " |")


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA runs asynchronously), so that timings include it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def describe(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "the CPU"


if __name__ == "__main__":
    main()
