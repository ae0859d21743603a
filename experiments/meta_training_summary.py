"""Per meta-training run: the env steps it learned from, how far the learned Meta-SGD rates moved, and what
adaptation was worth in training.

Reads each run's TensorBoard logs (``<run>/tensorboard/``, written by ``meta_train``) and prints, per run,
the env steps of all its iterations, the minutes from the first pretraining step to the last iteration (the
logs' wall times: a resumed run counts its pause too), the range of the mean learned inner learning rate
(``inner_lr``) over the iterations and the mean over the iterations of the query episodes' return (after
adaptation) minus the support episodes' (before it):

    python experiments/meta_training_summary.py runs/meta_quality/seed_*
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


@functools.cache
def log(run: Path, part: str) -> EventAccumulator:
    """``run``'s ``part`` log (``pretraining`` or ``meta``), read once."""
    folder = run / "tensorboard" / part
    if not folder.is_dir():
        raise SystemExit(f"{run} has no TensorBoard log {folder}; give run folders of meta_train")
    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    accumulator.Reload()
    return accumulator


def events(run: Path, part: str, tag: str) -> list:
    """The logged events of ``tag`` in ``run``'s ``part``, in order."""
    return log(run, part).Scalars(tag)


def scalars(run: Path, *tags: str) -> list[np.ndarray]:
    """The values of ``tags`` over the iterations of the meta-training run in ``run``."""
    return [np.array([event.value for event in events(run, "meta", tag)]) for tag in tags]


def minutes(run: Path) -> float:
    """Wall time from the first pretraining step to the last meta-training iteration."""
    start = events(run, "pretraining", "loss/mlm")[0].wall_time
    return (events(run, "meta", "env_steps")[-1].wall_time - start) / 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=Path, nargs="+", help="meta-training run folders")
    args = parser.parse_args()
    print(
        "| run | iterations | env steps | minutes | inner_lr (min to max) | query minus support return | support return |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    gains = []
    for run in args.runs:
        rate, query, support, steps = scalars(run, "inner_lr", "query/return", "support/return", "env_steps")
        gains.append(np.mean(query - support))
        print(
            f"| {run.name} | {len(rate)} | {steps.sum():,.0f} | {minutes(run):.1f} | {rate.min():.4f} to {rate.max():.4f} | "
            f"{gains[-1]:+.1f} | {support.mean():.1f} |"
        )
    print(f"\nquery minus support return, mean over the runs: {np.mean(gains):+.1f}")


if __name__ == "__main__":
    main()
