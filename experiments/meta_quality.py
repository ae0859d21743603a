r"""Meta-train with a config for several seeds, meta-test on held-out tasks, write the curves and print tables.

For each seed: ``meta_train`` (pretraining on logs of the training tasks, then meta-RL; resumes a run left
in ``--out/seed_<s>``), then ``meta_test``: adaptation curves of the agent in each mode and of the
pretrained recommender fine-tuned on the same episodes, on the same users. Each seed's rows go to ``--out/seed_<s>/<curves>.csv`` with the settings that made them beside it
(``<curves>.yaml``: the config and ``--test-adaptation``); a later run with the same settings reads them
instead of meta-testing that seed again, so adding seeds tests only the new ones. Writes
``--out/<curves>.csv`` (one row per seed, task, method and number of adaptation episodes) and
``--out/<curves>.png`` (score against adaptation episodes per regime), and prints the normalised
score (``normalized_score``: random 0, planning oracle 1) and the return per regime, method and number of episodes, mean [95 % CI] over task x seed pairs;
then each method's score minus the fine-tuned baseline's, and minus its own before adaptation, on the same
task, seed and users: over all pairs, and per seed with a sign-flip test over the seed means.

    python experiments/meta_quality.py --seeds 0 1 2   # the quick config's curves at 0, 1, 2, 5, 10 episodes

The documentation's meta-RL tables: 5 seeds of the quick benchmark's meta config (the quick config cut to 60
iterations of 24 query users per task), 5 adaptation episodes drawn 4 times per task, all 10 cohorts of the
left-out domain, 32 evaluation users per task. Each seed is its own process with one torch thread, two at a
time on two cores; the same command with all the seeds then reads their rows back and prints the tables:

    printf '%s\n' 0 1 2 3 4 | xargs -P 2 -I{} python experiments/meta_quality.py --seeds {} \
        --set iterations=60 query_episodes=24 log_episodes=200 pretrain_steps=500 checkpoint_every=20 \
        adaptation_draws=4 eval_episodes=32 --points 0 5 --test-domain-tasks 10 --out runs/meta_test60
    python experiments/meta_quality.py --seeds 0 1 2 3 4 --set iterations=60 query_episodes=24 log_episodes=200 \
        pretrain_steps=500 checkpoint_every=20 adaptation_draws=4 eval_episodes=32 --points 0 5 \
        --test-domain-tasks 10 --out runs/meta_test60

The number of threads changes the order of floating-point sums, and over many iterations of RL that changes
the run: a seed meta-trained with 1 thread does not give the numbers it gives with 2.

``--test-adaptation STEPS SCALE`` meta-tests the same agents adapting with STEPS Meta-SGD steps at SCALE times
their learned learning rates (``MetaRLAgent.with_adaptation``); ``--points`` and ``--curves`` choose the
curve's points and the file name, so such a run does not replace the main curves; ``--test-domain-tasks``
meta-tests on more cohorts of the left-out domain than the config's. ``--choose-adaptation STEPS:SCALE ...``
chooses that setting for each seed among the given ones by the ``gradient`` mode's score on the validation
cohorts (``choose_adaptation``; the choice and every candidate's score go to ``<curves>_choice.yaml``), and
meta-tests with it; ``--regimes`` and ``--methods`` meta-test only those, e.g.:

    printf '%s\n' 0 1 2 3 4 | xargs -P 2 -I{} python experiments/meta_quality.py --seeds {} \
        --set adaptation_draws=4 --points 0 5 --out runs/meta_quality --curves curves_chosen \
        --choose-adaptation 3:1 10:1 3:3 10:3 --regimes held_out_cohorts --methods gradient finetuned

``--meta-hyperparameters`` meta-trains with the loss weights and discount learned by meta-gradient
(``adaptation: {meta_hyperparameters: true}``); ``--set KEY=VALUE ...`` overrides other config keys, e.g.
``--set num_variants=0 finetune_iterations=40``. Give such runs their own ``--out``; only the meta-test's keys
(``adaptation_episodes``, ``eval_episodes``, ``test_domain_tasks``, ``adaptation_draws``) may change on a
finished run.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import yaml

from recsim_meta.agents.meta_training import MetaConfig, meta_train
from recsim_meta.agents.recommender_policy import read_model
from recsim_meta.config_files import add_overrides_argument
from recsim_meta.evaluation.adaptation import (
    FINETUNED,
    METHODS,
    TEST_REGIMES,
    adaptation_gains,
    choose_adaptation,
    curve_table,
    difference_table,
    meta_test,
    paired_differences,
    plot_curves,
    read_rows,
    seed_difference_table,
    write_rows,
)
from recsim_meta.threads import set_threads


def adaptation_setting(text: str) -> tuple[int, float]:
    """``STEPS:SCALE`` (e.g. ``10:3``) as ``(10, 3.0)``: a test-time Meta-SGD setting of ``--choose-adaptation``."""
    try:
        steps, scale = text.split(":")
        setting = int(steps), float(scale)
    except ValueError:
        setting = (-1, 0.0)
    if setting[0] < 0 or not setting[1] > 0:
        raise argparse.ArgumentTypeError(f"expected STEPS:SCALE with integer STEPS >= 0 and SCALE > 0, got {text!r}")
    return setting


def choice_record(chosen: tuple[int, float], scores: dict[tuple[int, float], float]) -> dict:
    """What ``choose_adaptation`` chose and the validation score of every candidate, keyed ``STEPS:SCALE``."""
    name = "{}:{:g}".format
    return {"chosen": name(*chosen), "validation_scores": {name(*setting): score for setting, score in scores.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=Path("experiments/meta_quick.yaml"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1, help="torch and numba threads (default 1)")
    parser.add_argument("--out", type=Path, default=Path("runs/meta_quality"), help="output folder")
    parser.add_argument("--tables-only", action="store_true", help="print the tables and plot of --out/<curves>.csv")
    parser.add_argument(
        "--value",
        choices=("score", "return"),
        default="score",
        help="what the difference tables compare (default score)",
    )
    # with_adaptation scales the rates it is given: choosing on top of --test-adaptation would compound the two
    test_time = parser.add_mutually_exclusive_group()
    test_time.add_argument(
        "--test-adaptation", type=float, nargs=2, metavar=("STEPS", "SCALE"), help="test-time Meta-SGD"
    )
    test_time.add_argument(
        "--choose-adaptation",
        type=adaptation_setting,
        nargs="+",
        metavar="STEPS:SCALE",
        help="choose the test-time Meta-SGD setting of each seed among these on the validation cohorts",
    )
    parser.add_argument("--regimes", nargs="+", choices=TEST_REGIMES, default=list(TEST_REGIMES), help="(default both)")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS), help="(default all)")
    parser.add_argument(
        "--points", type=int, nargs="+", help="adaptation episodes of the curve (default: the config's)"
    )
    parser.add_argument(
        "--test-domain-tasks", type=int, help="cohorts of the left-out domain to meta-test on (default: the config's)"
    )
    parser.add_argument("--curves", default="curves", help="name of the CSV and PNG in --out (default curves)")
    parser.add_argument("--meta-hyperparameters", action="store_true", help="learn loss weights and discount")
    add_overrides_argument(parser)
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda (default auto)")
    args = parser.parse_args()
    set_threads(args.threads)
    curves = args.out / f"{args.curves}.csv"
    rows = read_rows(curves) if args.tables_only else []
    choices: dict[int, dict] = {}  # seed: the test-time setting chosen on the validation cohorts
    for seed in [] if args.tables_only else args.seeds:
        config = MetaConfig.from_yaml(args.config, **{**args.set, "seed": seed})
        if args.meta_hyperparameters:
            config = dataclasses.replace(config, adaptation={**config.adaptation, "meta_hyperparameters": True})
        if args.points:
            config = dataclasses.replace(config, adaptation_episodes=tuple(args.points))
        if args.test_domain_tasks:
            config = dataclasses.replace(config, test_domain_tasks=args.test_domain_tasks)
        run = args.out / f"seed_{seed}"
        test_settings = {"test_adaptation": args.test_adaptation}
        if args.choose_adaptation or args.regimes != list(TEST_REGIMES) or args.methods != list(METHODS):
            test_settings |= {
                "choose_adaptation": args.choose_adaptation,
                "regimes": args.regimes,
                "methods": args.methods,
            }
        settings = config.to_yaml() + yaml.safe_dump(test_settings)
        seed_curves, seed_settings = run / f"{args.curves}.csv", run / f"{args.curves}.yaml"
        seed_choice = run / f"{args.curves}_choice.yaml"
        if seed_curves.exists() and seed_settings.exists() and seed_settings.read_text() == settings:
            rows += read_rows(seed_curves)
            if args.choose_adaptation:
                choices[seed] = yaml.safe_load(seed_choice.read_text())
            print(f"seed {seed}: the rows of {seed_curves}, meta-tested with these settings", file=sys.stderr)
            continue
        start = time.perf_counter()
        agent = meta_train(config, run, resume=True, device=args.device)
        trained = time.perf_counter()
        if args.test_adaptation:
            agent = agent.with_adaptation(int(args.test_adaptation[0]), args.test_adaptation[1])
        if args.choose_adaptation:
            chosen, scores = choose_adaptation(agent, config, seed, args.choose_adaptation)
            agent = agent.with_adaptation(*chosen)
            choices[seed] = choice_record(chosen, scores)
        baseline = read_model(run / "pretrained") if FINETUNED in args.methods else None
        seed_rows = meta_test(agent, baseline, config, seed, regimes=args.regimes, methods=args.methods)
        seconds = f"meta-training {trained - start:.0f} s, meta-test {time.perf_counter() - trained:.0f} s"
        print(f"seed {seed}: {seconds}", file=sys.stderr)
        seed_settings.unlink(missing_ok=True)  # the settings go last: they vouch for the rows beside them
        write_rows(seed_rows, seed_curves)
        if args.choose_adaptation:
            seed_choice.write_text(yaml.safe_dump(choices[seed], sort_keys=False))
        seed_settings.write_text(settings)
        rows += seed_rows
    if not args.tables_only:
        write_rows(rows, curves)
    if choices:
        print(
            "\nTest-time Meta-SGD setting (STEPS:SCALE) chosen per seed: gradient-mode score on the validation cohorts"
        )
        for seed, record in choices.items():
            scores = ", ".join(f"{name} {score:.3f}" for name, score in record["validation_scores"].items())
            print(f"seed {seed}: {record['chosen']} ({scores})")
    plot_curves(rows, curves.with_suffix(".png"))
    seeds = len({r["seed"] for r in rows})
    print(
        f"\nOracle-normalised score, mean [95% CI] over task x seed pairs ({seeds} seeds; plot: {curves.with_suffix('.png')}):\n"
    )
    print(curve_table(rows, "score"))
    print("\nReturn:\n")
    print(curve_table(rows, "return"))
    for differences, what, label in (
        (paired_differences(rows, value=args.value), "minus the fine-tuned baseline's", "minus finetuned"),
        (adaptation_gains(rows, args.value), "minus the same method's before adaptation", "minus 0 episodes"),
    ):
        if not differences:  # no point at 0 episodes
            continue
        print(f"\n{args.value.capitalize()} {what} on the same task, seed and users, mean [95% CI] (share ahead):\n")
        print(difference_table(differences, label))
        print(f"\nThe same at {max(r['episodes'] for r in rows)} episodes, mean over the tasks of each seed:\n")
        print(seed_difference_table(differences))


if __name__ == "__main__":
    main()
