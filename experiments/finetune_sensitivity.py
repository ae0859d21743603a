"""How the fine-tuned baseline's score on the left-out domain depends on how hard it is fine-tuned, and on which
parameters.

``meta_quality.py`` compares the meta-RL agent with the pretrained recommender fine-tuned for the config's
``finetune_steps`` Adam steps at ``finetune_lr`` (20 at 1e-3 in the quick config). This script fine-tunes the
same pretrained recommenders (``--out/seed_<s>/pretrained``, trained first when absent, as ``meta_quality.py``
would) on 5 episodes of their own sampled slates in each cohort of the left-out domain, over a grid of steps
and learning rates, and prints the normalised score (random 0, planning oracle 1) of each setting, mean [95% CI] over cohort x seed
pairs, and its difference from the config's setting on the same cohort, seed and users. It shows how far the
baseline is from its best setting on the new domain, and how much a stronger or weaker adaptation changes.

    python experiments/finetune_sensitivity.py --seeds 0 1 2   # about 18 minutes with the pretrained models in place

``--parts`` fine-tunes only some of the parameters (``PARTS``: the heads Meta-SGD adapts, the item embeddings
with their content projection and KG fusion, or the BERT encoder with the response projection), each beside
fine-tuning them all, to show where fine-tuning's gain on a new domain comes from:

    python experiments/finetune_sensitivity.py --seeds 0 1 2 3 4 --steps 20 --lrs 1e-3 --parts all heads items encoder

``--set KEY=VALUE ...`` overrides config keys, as in ``meta_quality.py`` (e.g. ``--set num_variants=0``).
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
import torch

from recsim_meta.agents.meta_rl import ADAPTED, MetaRLAgent
from recsim_meta.agents.meta_training import MetaConfig, pretrained_model
from recsim_meta.config_files import add_overrides_argument
from recsim_meta.evaluation.adaptation import greedy_returns, task_seeds
from recsim_meta.evaluation.references import normalized_score
from recsim_meta.evaluation.rollout import mean_ci

PARTS = {
    "all": None,
    "heads": ADAPTED,
    "items": ("item_embeddings", "content_projection", "kg_alpha", "relation_weights"),
    "encoder": ("bert.", "response_projection"),
}


def scores(config: MetaConfig, out: Path, settings: list[tuple[int, float, str]], episodes: int, cohorts: int) -> dict:
    """Per setting (steps, learning rate, ``PARTS`` name; and ``None``: no fine-tuning), the score of each of the
    first ``cohorts`` left-out cohorts."""
    env = config.make_env()
    model = pretrained_model(config, env, out, progress=True, device="cpu")
    agent = MetaRLAgent(model, env, config.settings, config.seed, "cpu")
    tasks = env.unwrapped.splits.test_domain[:cohorts]
    eval_seeds, adapt_seeds = task_seeds(config.seed, len(tasks))  # as in meta_test
    adaptation = agent.collect(tasks, users=episodes, seeds=adapt_seeds, remember=False)
    result = {}
    for setting in [None, *settings]:
        values = []
        for i in range(len(tasks)):
            actor = agent
            if setting is not None:
                mine = adaptation.select(np.flatnonzero(adaptation.slot == i))
                actor = agent.finetuned(mine, setting[0], setting[1], PARTS[setting[2]])
            (mean,) = greedy_returns(actor, [tasks[i]], [actor.new_state()], [eval_seeds[i]], config.eval_episodes)
            values.append(normalized_score(tasks[i], mean))
        result[setting] = values
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=Path("experiments/meta_quick.yaml"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("runs/meta_quality"), help="the runs' folder")
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 20, 60], help="fine-tuning steps")
    parser.add_argument("--lrs", type=float, nargs="+", default=[3e-4, 1e-3, 3e-3], help="Adam learning rates")
    parser.add_argument(
        "--parts", nargs="+", choices=list(PARTS), default=["all"], help="parameters fine-tuned (default all)"
    )
    parser.add_argument("--episodes", type=int, default=5, help="adaptation episodes per cohort (default 5)")
    parser.add_argument("--cohorts", type=int, default=10, help="cohorts of the left-out domain (default 10)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    add_overrides_argument(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = MetaConfig.from_yaml(args.config, **args.set)
    default = (config.finetune_steps, config.finetune_lr, "all")
    settings = sorted(set(itertools.product(args.steps, args.lrs, args.parts)) | {default})
    per_seed = []
    for seed in args.seeds:
        config = MetaConfig.from_yaml(args.config, **{**args.set, "seed": seed})
        per_seed.append(scores(config, args.out / f"seed_{seed}", settings, args.episodes, args.cohorts))
        print(f"seed {seed} done", file=sys.stderr, flush=True)
    merged = {setting: np.concatenate([s[setting] for s in per_seed]) for setting in per_seed[0]}
    reference = merged[default]
    print(
        f"\nLeft-out domain ({config.held_out_domain}), {args.episodes} adaptation episodes, {len(reference)} pairs:\n"
    )
    print(
        "| steps | learning rate | parameters | score | minus the config's setting (ahead) |\n|---:|---:|---|---:|---:|"
    )
    for setting, values in merged.items():
        mean, low, high = mean_ci(values)
        diff, dlow, dhigh = mean_ci(values - reference)
        name = "| 0 | - | - |" if setting is None else f"| {setting[0]} | {setting[1]:g} | {setting[2]} |"
        print(
            f"{name} {mean:.3f} [{low:.3f}, {high:.3f}] | {diff:+.3f} [{dlow:+.3f}, {dhigh:+.3f}] ({np.mean(values > reference):.0%}) |"
        )


if __name__ == "__main__":
    main()
