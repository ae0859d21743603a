r"""What learning from a subsample of each iteration's steps costs: the meta-test of agents meta-trained with two
``update_fraction`` s, paired on the same tasks, seeds and users.

Meta-train and meta-test each fraction with ``experiments/meta_quality.py`` into its own folder (the quick config
cut to the quick benchmark's 60 iterations, held-out cohorts, gradient mode), then compare:

    printf '%s\n' "sub 0.1 0" "sub 0.1 1" "full 1.0 0" "full 1.0 1" | xargs -P 2 -L 1 sh -c \
        'python experiments/meta_quality.py --seeds $2 --out runs/update_fraction/$0 --points 0 5 \
         --regimes held_out_cohorts --methods gradient --set iterations=60 log_episodes=200 pretrain_steps=500 \
         checkpoint_every=20 eval_episodes=32 adaptation_draws=2 update_fraction=$1'
    python experiments/update_fraction.py runs/update_fraction/sub runs/update_fraction/full

Prints the score of each fraction (gradient mode, 0 and 5 adaptation episodes) and the second's minus the
first's, over tasks x seeds and per seed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from recsim_meta.evaluation.adaptation import (
    curve_table,
    difference_table,
    paired_differences,
    read_rows,
    seed_difference_table,
)


def labelled_rows(folder: Path) -> tuple[str, list[dict]]:
    """The meta-test rows of every seed in ``folder``, their method named after the run's update fraction."""
    rows, fractions = [], set()
    for seed_folder in sorted(folder.glob("seed_*")):
        fractions.add(yaml.safe_load((seed_folder / "config.yaml").read_text())["update_fraction"])
        rows += read_rows(seed_folder / "curves.csv")
    if len(fractions) != 1:
        raise ValueError(f"{folder}: expected one update_fraction across its seeds, found {sorted(fractions)}")
    label = f"update_fraction {fractions.pop()}"
    return label, [{**row, "method": label} for row in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", type=Path, help="meta_quality.py --out of the reference fraction")
    parser.add_argument("other", type=Path, help="meta_quality.py --out of the fraction compared with it")
    args = parser.parse_args()
    reference, reference_rows = labelled_rows(args.reference)
    _, other_rows = labelled_rows(args.other)
    rows = reference_rows + other_rows
    seeds = sorted({row["seed"] for row in rows})
    print(f"Normalised score, gradient mode, mean [95% CI] over task x seed pairs (seeds {seeds}):\n")
    print(curve_table(rows, "score"))
    differences = paired_differences(rows, reference=reference)
    print(f"\nScore minus {reference}'s on the same task, seed and users, mean [95% CI] (share ahead):\n")
    print(difference_table(differences, f"minus {reference}"))
    print("\nThe same per seed, mean over its tasks:\n")
    print(seed_difference_table(differences))


if __name__ == "__main__":
    main()
