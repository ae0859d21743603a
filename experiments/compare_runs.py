r"""Two meta-training settings side by side: the meta-test of agents meta-trained with two values of one config key,
paired on the same tasks, seeds and users.

Meta-train and meta-test each value with ``experiments/meta_quality.py`` into its own folder, then compare. What
learning from a subsample of each iteration's steps costs (``update_fraction``; the quick benchmark's meta config:
the quick config cut to 60 iterations of 24 query users per task, held-out cohorts, gradient mode):

    printf '%s\n' "sub 0.1 0" "sub 0.1 1" "full 1.0 0" "full 1.0 1" | xargs -P 2 -L 1 sh -c \
        'python experiments/meta_quality.py --seeds $2 --out runs/update_fraction/$0 --points 0 5 \
         --regimes held_out_cohorts --methods gradient --set iterations=60 query_episodes=24 log_episodes=200 \
         pretrain_steps=500 checkpoint_every=20 eval_episodes=32 adaptation_draws=2 update_fraction=$1'
    python experiments/compare_runs.py runs/update_fraction/sub runs/update_fraction/full --key update_fraction

What the memory keeps (``adaptation.memory``: the newest interactions or the most clicked items; the same 60
iterations, in-context mode, both regimes; the ``recent`` agents are the ``update_fraction`` 0.1 ones above,
meta-tested again in this mode):

    printf '%s\n' "runs/memory_clicks 0 adaptation.memory=clicks" "runs/memory_clicks 1 adaptation.memory=clicks" \
        "runs/update_fraction/sub 0" "runs/update_fraction/sub 1" | xargs -P 2 -L 1 sh -c \
        'python experiments/meta_quality.py --out $0 --seeds $1 --points 0 5 --curves in_context \
         --methods in_context --set iterations=60 query_episodes=24 log_episodes=200 pretrain_steps=500 \
         checkpoint_every=20 eval_episodes=32 adaptation_draws=2 $2'
    python experiments/compare_runs.py runs/update_fraction/sub runs/memory_clicks --key adaptation.memory \
        --curves in_context

How Meta-SGD scales its gradient (``adaptation.inner_step``: clipped to norm 1, or normalised per tensor with the
initial rate that moves the heads about as far in 3 steps as fine-tuning's 20 Adam steps at 1e-3; the same 60
iterations, gradient mode, both regimes; again against the ``update_fraction`` 0.1 agents):

    printf '%s\n' "runs/inner_normalised 0 adaptation.inner_step=normalised adaptation.inner_lr=0.005" \
        "runs/inner_normalised 1 adaptation.inner_step=normalised adaptation.inner_lr=0.005" \
        "runs/update_fraction/sub 0" "runs/update_fraction/sub 1" | xargs -P 2 -L 1 sh -c \
        'python experiments/meta_quality.py --out $0 --seeds $1 --points 0 5 --curves gradient \
         --methods gradient --set iterations=60 query_episodes=24 log_episodes=200 pretrain_steps=500 \
         checkpoint_every=20 eval_episodes=32 adaptation_draws=2 $2 $3'
    python experiments/compare_runs.py runs/update_fraction/sub runs/inner_normalised --key adaptation.inner_step \
        --curves gradient

Prints each value's score per adaptation mode (0 and 5 adaptation episodes), the second value's minus the
first's, mode by mode, and each agent's adaptation gain (5 episodes minus 0), over tasks x seeds and per seed.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from recsim_meta.agents.meta_training import MetaConfig
from recsim_meta.evaluation.adaptation import (
    adaptation_gains,
    curve_table,
    difference_table,
    paired_differences,
    read_rows,
    seed_difference_table,
)


def setting(config: MetaConfig, key: str) -> Any:
    """The value of ``key`` in ``config``: a top-level key, or ``adaptation.<name>`` (defaults included)."""
    head, dot, rest = key.partition(".")
    return getattr(config.settings, rest) if dot else getattr(config, key)


def labelled_rows(folder: Path, key: str, curves: str, seeds: list[int] | None) -> tuple[object, list[dict]]:
    """The meta-test rows of ``seeds`` (default: every seed) in ``folder`` and the run's value of ``key``, each
    row's method named ``"<mode>, <key> <value>"`` and its adaptation mode kept as ``mode``."""
    rows, values = [], set()
    folders = (
        [p for p in sorted(folder.glob("seed_*")) if p.is_dir()]
        if seeds is None
        else [folder / f"seed_{seed}" for seed in seeds]
    )
    for seed_folder in folders:
        values.add(setting(MetaConfig.from_yaml(seed_folder / "config.yaml"), key))
        rows += read_rows(seed_folder / f"{curves}.csv")
    if len(values) != 1:
        raise ValueError(f"{folder}: expected one {key} across its seeds, found {sorted(values)}")
    value = values.pop()
    return value, [{**row, "mode": row["method"], "method": f"{row['method']}, {key} {value}"} for row in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", type=Path, help="meta_quality.py --out of the reference setting")
    parser.add_argument("other", type=Path, help="meta_quality.py --out of the setting compared with it")
    parser.add_argument("--key", required=True, help="the config key the two differ in, e.g. update_fraction")
    parser.add_argument("--curves", default="curves", help="meta_quality.py --curves of both (default curves)")
    parser.add_argument("--seeds", type=int, nargs="+", help="compare only these seeds (default: all in each)")
    args = parser.parse_args()
    reference, reference_rows = labelled_rows(args.reference, args.key, args.curves, args.seeds)
    _, other_rows = labelled_rows(args.other, args.key, args.curves, args.seeds)
    rows = reference_rows + other_rows
    seeds = sorted({row["seed"] for row in rows})
    print(f"Normalised score, mean [95% CI] over task x seed pairs (seeds {seeds}):\n")
    print(curve_table(rows, "score"))
    differences = {}
    for mode in dict.fromkeys(row["mode"] for row in reference_rows):
        mine = [row for row in rows if row["mode"] == mode]
        differences |= paired_differences(mine, reference=f"{mode}, {args.key} {reference}")
    print(
        f"\nScore minus that of {args.key} {reference} in the same mode, on the same task, seed and users, mean [95% CI] (share ahead):\n"
    )
    print(difference_table(differences, f"minus {args.key} {reference}"))
    print("\nThe same per seed, mean over its tasks:\n")
    print(seed_difference_table(differences))
    gains = adaptation_gains(rows)
    if gains:
        print("\nAdaptation gain: score after the episodes minus the same agent's before them, mean [95% CI]:\n")
        print(difference_table(gains, "minus 0 episodes"))
        print("\nThe same per seed, mean over its tasks:\n")
        print(seed_difference_table(gains))


if __name__ == "__main__":
    main()
