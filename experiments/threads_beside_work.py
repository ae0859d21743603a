"""What the thread count costs beside other work: ``recsim-meta adapt`` and a pretraining step with one torch
thread and with one per core, on an idle machine and beside a busy process (a CPU-bound loop on one core).

    python experiments/threads_beside_work.py --checkpoint runs/benchmark_quick/models/seed0/meta/checkpoint

Prints a Markdown table of wall times: ``adapt`` (5 adaptation episodes, 20 evaluation episodes before and
after; the median of ``--repeats`` runs) and a pretraining step of 256 logged rows (the median of 20). The
results of both are the same whatever the load (the load changes timing, not arithmetic).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager

import gymnasium as gym
import numpy as np

from recsim_meta.agents import RecommenderPolicy
from recsim_meta.agents.logged_data import collect_logs
from recsim_meta.agents.pretraining import LogEncoder, pretraining_step
from recsim_meta.threads import set_threads

BUSY = "while True: pass"


@contextmanager
def busy_process(busy: bool):
    """A CPU-bound process on one core while the block runs (``busy``), else nothing."""
    process = subprocess.Popen([sys.executable, "-c", BUSY]) if busy else None
    try:
        time.sleep(0.5 if busy else 0.0)
        yield
    finally:
        if process is not None:
            process.kill()
            process.wait()


def adapt_seconds(checkpoint: str, threads: int) -> float:
    command = ["recsim-meta", "adapt", "--checkpoint", checkpoint, "--task", "video/3", "--threads", str(threads)]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def pretraining_step_ms(threads: int, repeats: int = 20) -> float:
    import torch

    set_threads(threads)
    env = gym.make("recsim_meta/MultiDomain-v0")
    log = collect_logs(env, 20, progress=False)
    policy = RecommenderPolicy.for_env(env, seed=0, device="cpu")
    encoder = LogEncoder(policy.model.config, log)
    optimizer = torch.optim.AdamW(policy.model.parameters(), lr=1e-3)
    rows = np.random.default_rng(0).integers(len(log), size=256)
    generator = torch.Generator().manual_seed(0)
    times = []
    for _ in range(repeats + 2):
        start = time.perf_counter()
        pretraining_step(policy.model, encoder, optimizer, rows, 0.2, generator)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times[2:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="a saved meta-RL agent (a run's checkpoint/)")
    parser.add_argument("--repeats", type=int, default=3, help="adapt runs per cell (default 3)")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    print(f"{cores} cores; wall times, medians:\n")
    print("| torch threads | load | `recsim-meta adapt` (s) | pretraining step, 256 rows (ms) |\n|---:|---|---:|---:|")
    for busy in (False, True):
        for threads in (1, cores):
            with busy_process(busy):
                adapt = statistics.median(adapt_seconds(args.checkpoint, threads) for _ in range(args.repeats))
                step = pretraining_step_ms(threads)
            load = "beside a busy process" if busy else "idle"
            print(f"| {threads} | {load} | {adapt:.1f} | {step:.1f} |", flush=True)


if __name__ == "__main__":
    main()
