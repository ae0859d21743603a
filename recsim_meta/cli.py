"""The ``recsim-meta`` command.

Every command that runs torch takes ``--threads`` (default 1: see ``recsim_meta.threads``). A predictable user
error (a bad config or value, a missing checkpoint, an existing run) ends with one line on stderr and exit
status 2; Ctrl-C with one line that says how to continue, and exit status 130.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import recsim_meta
from recsim_meta.agents import BASELINES
from recsim_meta.threads import DEFAULT_THREADS, set_threads

DEVICE_HELP = "where the model runs: auto (CUDA when available, else the CPU), cpu, cuda, cuda:N (default auto)"
THREADS_HELP = (
    f"torch and numba threads of each process (default {DEFAULT_THREADS}: the right choice beside other work; "
    "results reproduce exactly with the same count)"
)
RESUME_HINTS = {
    "meta-train": "the same command with --resume continues from the last checkpoint",
    "benchmark": "the same command continues: finished runs are kept in results.csv",
    "reference-scores": "the same command starts again; the data file is unchanged",
}


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if getattr(args, "threads", None) is not None:
            set_threads(args.threads)
        args.run(args)
    except KeyboardInterrupt:
        hint = RESUME_HINTS.get(args.command)
        print(f"recsim-meta {args.command}: interrupted" + (f"; {hint}" if hint else ""), file=sys.stderr)
        sys.exit(130)
    except (ValueError, FileNotFoundError) as error:
        print(f"recsim-meta {args.command}: error: {error}", file=sys.stderr)
        sys.exit(2)
    except BrokenPipeError:  # the output's reader stopped early (| head): not an error of the command
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recsim-meta", description=recsim_meta.__doc__)
    parser.add_argument("--version", action="version", version=recsim_meta.__version__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser(
        "demo", help="simulate a few episodes with simple policies and print a summary (seconds)"
    )
    demo.add_argument("--env", action="append", choices=recsim_meta.ENV_IDS, help="env id (repeatable; default: all)")
    demo.add_argument(
        "--policy",
        action="append",
        choices=list(BASELINES),
        help="policy (repeatable; default: random, popularity, oracle)",
    )
    demo.add_argument("--episodes", type=int, default=10, help="episodes per env and policy (default 10)")
    demo.add_argument("--cohorts", type=int, default=2, help="cohorts (tasks) the episodes are spread over (default 2)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the cohorts and the first episode (default 0)")
    demo.set_defaults(run=demo_command)

    train = commands.add_parser(
        "meta-train",
        help="pretrain the BERT recommender and meta-train the meta-RL agent from a YAML config "
        "(experiments/meta_quick.yaml: about 19 minutes on 2 cores with --threads 2)",
    )
    train.add_argument("--config", required=True, help="YAML config, e.g. experiments/meta_quick.yaml")
    train.add_argument("--out", default="runs/meta", help="output folder (default runs/meta)")
    train.add_argument("--seed", type=int, help="override the config's seed")
    train.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    train.add_argument("--threads", type=int, default=DEFAULT_THREADS, help=THREADS_HELP)
    train.add_argument("--device", type=device_name, default="auto", help=DEVICE_HELP)
    train.set_defaults(run=meta_train_command)

    adapt = commands.add_parser(
        "adapt",
        help="adapt a meta-trained agent to a task and compare its return before and after (about a minute)",
    )
    adapt.add_argument("--checkpoint", required=True, help="a saved agent, e.g. runs/meta/checkpoint")
    adapt.add_argument("--task", required=True, help="DOMAIN/COHORT, e.g. video/3 (cohorts of the run's config)")
    adapt.add_argument("--episodes", type=int, default=5, help="adaptation episodes (default 5)")
    adapt.add_argument(
        "--mode",
        default="both",
        help="in_context, gradient, both, or finetune (every parameter, Adam, the config's finetune_steps "
        "and finetune_lr) (default both)",
    )
    adapt.add_argument("--eval-episodes", type=int, default=20, help="greedy episodes before and after (default 20)")
    adapt.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the evaluation users, the adaptation users and sampling (default 0)",
    )
    adapt.add_argument("--threads", type=int, default=DEFAULT_THREADS, help=THREADS_HELP)
    adapt.add_argument("--device", type=device_name, default="auto", help=DEVICE_HELP)
    adapt.set_defaults(run=adapt_command)

    bench = commands.add_parser(
        "benchmark",
        help="run every method on the test tasks at several budgets; CSV, Markdown report and plots "
        "(experiments/benchmark_tiny.yaml: about a minute; benchmark_quick.yaml: about 30 minutes with --workers 2)",
    )
    bench.add_argument("--config", required=True, help="YAML config, e.g. experiments/benchmark_tiny.yaml")
    bench.add_argument("--out", default="runs/benchmark", help="output folder (default runs/benchmark)")
    bench.add_argument("--workers", type=positive, default=1, help="parallel processes (default 1)")
    bench.add_argument(
        "--backend",
        choices=["processes", "ray"],
        default="processes",
        help="local processes, or Ray tasks (optional extra; RAY_ADDRESS names a cluster)",
    )
    bench.add_argument("--threads", type=int, default=DEFAULT_THREADS, help=THREADS_HELP)
    bench.add_argument(
        "--report-only", action="store_true", help="only rewrite the report and plots from --out/results.csv"
    )
    bench.set_defaults(run=benchmark_command)

    references = commands.add_parser(
        "reference-scores",
        help="compute the reference scores (random, popularity, myopic and planning oracles) of every env id's "
        "default task and of the default splits' tasks (about 2 minutes with --workers 2), or print their table",
    )
    references.add_argument("--out", help="JSON file to write (default: the package's data file)")
    references.add_argument("--workers", type=positive, default=1, help="parallel processes (default 1)")
    references.add_argument("--table", action="store_true", help="only print the shipped scores of every env id")
    references.set_defaults(run=reference_scores_command)

    bert = commands.add_parser("bert", help="the BERT recommender on its own: pretrain, evaluate, play")
    bert_commands = bert.add_subparsers(dest="bert_command", required=True)
    pretrain = bert_commands.add_parser(
        "pretrain",
        help="log episodes of an epsilon-greedy oracle in MultiDomain-v0 and pretrain the recommender on them "
        "(defaults: about 3 minutes)",
    )
    pretrain.add_argument("--out", default="runs/bert", help="run folder: logs.npz, model/, tensorboard/")
    pretrain.add_argument("--episodes", type=positive, default=500, help="logged episodes (default 500)")
    pretrain.add_argument("--logs", help="pretrain on these logs (save_logs' NPZ) instead of logging new ones")
    pretrain.add_argument("--steps", type=positive, default=500, help="pretraining steps of 256 rows (default 500)")
    pretrain.add_argument("--seed", type=int, default=0, help="seed of the logged users and the model (default 0)")
    pretrain.add_argument("--threads", type=int, default=DEFAULT_THREADS, help=THREADS_HELP)
    pretrain.set_defaults(run=bert_pretrain_command)
    evaluate = bert_commands.add_parser(
        "evaluate", help="HR@10 and NDCG@10 of the next click on held-out logs, against popularity (a minute)"
    )
    evaluate.add_argument("--run", default="runs/bert", help="a folder bert pretrain wrote (default runs/bert)")
    evaluate.add_argument("--episodes", type=positive, default=150, help="held-out episodes (default 150)")
    evaluate.add_argument("--seed", type=int, default=100_000, help="seed of the held-out users (default 100000)")
    evaluate.add_argument("--threads", type=int, default=DEFAULT_THREADS, help=THREADS_HELP)
    evaluate.set_defaults(run=bert_evaluate_command)
    play = bert_commands.add_parser(
        "play", help="act greedily in a domain env against popularity, on the same users (seconds to minutes)"
    )
    play.add_argument("--run", default="runs/bert", help="a folder bert pretrain wrote (default runs/bert)")
    play.add_argument(
        "--env",
        action="append",
        choices=[recsim_meta.envs.PRESETS[d].env_id for d in recsim_meta.DOMAINS],
        help="domain env id (repeatable; default: all six)",
    )
    play.add_argument("--episodes", type=positive, default=20, help="episodes per env, over 5 cohorts (default 20)")
    play.add_argument("--seed", type=int, default=0, help="seed of the cohorts and users (default 0)")
    play.add_argument("--threads", type=int, default=DEFAULT_THREADS, help=THREADS_HELP)
    play.set_defaults(run=bert_play_command)
    return parser


def positive(text: str) -> int:
    """An argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def device_name(text: str) -> str:
    """``text`` when torch knows it as a device (or it is ``auto``); argparse reports the error otherwise."""
    import torch

    try:
        return text if text == "auto" else str(torch.device(text))
    except RuntimeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a device; accepted: auto, cpu, cuda, cuda:N") from None


def demo_command(args: argparse.Namespace) -> None:
    from recsim_meta.evaluation import summary_table

    if args.cohorts < 1 or args.episodes < args.cohorts:
        raise ValueError("need --cohorts >= 1 and --episodes >= --cohorts")
    policies = args.policy or ["random", "popularity", "oracle"]
    print(summary_table(args.env or list(recsim_meta.ENV_IDS), policies, args.episodes, args.cohorts, args.seed))


def meta_train_command(args: argparse.Namespace) -> None:
    from recsim_meta.agents.meta_training import MetaConfig, meta_train

    overrides = {} if args.seed is None else {"seed": args.seed}
    meta_train(MetaConfig.from_yaml(args.config, **overrides), args.out, resume=args.resume, device=args.device)
    print(f"agent saved in {args.out}/checkpoint")


def benchmark_command(args: argparse.Namespace) -> None:
    from recsim_meta.evaluation.benchmark import BenchmarkConfig, run_benchmark
    from recsim_meta.evaluation.report import write_report

    out = Path(args.out)
    if args.report_only:
        if not (out / "results.csv").is_file():
            raise ValueError(f"--report-only needs {out / 'results.csv'}")
        print(f"report written to {write_report(out / 'results.csv', out)}")
        return
    config = BenchmarkConfig.from_yaml(args.config)
    results = run_benchmark(config, out, workers=args.workers, backend=args.backend, threads=args.threads)
    print(f"results in {results}; report in {out / 'report.md'}")


def reference_scores_command(args: argparse.Namespace) -> None:
    from recsim_meta.evaluation.references import DATA_FILE, reference_table, write_references

    if args.table:
        print(reference_table())
    else:
        write_references(args.out or DATA_FILE, args.workers)


def adapt_command(args: argparse.Namespace) -> None:
    from tqdm.auto import tqdm

    from recsim_meta.agents.meta_rl import MODES, MetaRLAgent
    from recsim_meta.agents.meta_training import MetaConfig
    from recsim_meta.evaluation.rollout import mean_ci, run_episodes
    from recsim_meta.sim.tasks import sample_tasks

    checkpoint = Path(args.checkpoint)
    if not checkpoint.is_dir():
        raise FileNotFoundError(f"no saved agent at {checkpoint} (meta-train writes RUN/checkpoint)")
    config_file = checkpoint.parent / "config.yaml"
    config = MetaConfig.from_yaml(config_file) if config_file.is_file() else MetaConfig()
    domain, _, cohort = args.task.partition("/")
    if domain not in recsim_meta.DOMAINS or not cohort.isdigit() or int(cohort) >= config.num_cohorts:
        raise ValueError(
            f"--task must be DOMAIN/COHORT with DOMAIN one of {', '.join(recsim_meta.DOMAINS)} "
            f"and COHORT in 0..{config.num_cohorts - 1}, got {args.task!r}"
        )
    if args.mode not in (*MODES, "finetune"):
        raise ValueError(f"--mode must be one of {', '.join(MODES)}, finetune, got {args.mode!r}")
    task = sample_tasks(domain, config.num_cohorts, config.task_seed)[int(cohort)]
    env = config.make_env()
    agent = MetaRLAgent.load(checkpoint, env, seed=args.seed, device=args.device)
    options = {"task": task}
    with tqdm(total=3, desc="adapt", bar_format="{desc}: {n}/{total} stages, {elapsed} so far") as stages:
        before = run_episodes(env, agent, args.eval_episodes, 1_000_000 + args.seed, options, progress="before")
        stages.update()
        if args.mode == "finetune":
            rollout = agent.collect([task], episodes=args.episodes, seeds=[2_000_000 + args.seed])
            agent = agent.finetuned(rollout, config.finetune_steps, config.finetune_lr)
        else:
            agent.adapt(args.episodes, task, args.mode, seed=2_000_000 + args.seed)
        stages.update()
        after = run_episodes(env, agent, args.eval_episodes, 1_000_000 + args.seed, options, progress="after")
        stages.update()
    print(f"task {args.task}, {args.episodes} adaptation episodes, mode {args.mode}:")
    for name, stats in (("before", before), ("after", after)):
        mean, low, high = mean_ci(stats.returns)
        score = recsim_meta.normalized_score(task, mean)
        print(
            f"  {name}: mean return {mean:.2f} [{low:.2f}, {high:.2f}] over {args.eval_episodes} episodes (score {score:.3f})"
        )


def bert_pretrain_command(args: argparse.Namespace) -> None:
    import gymnasium as gym

    from recsim_meta.agents import RecommenderPolicy, collect_logs, load_logs, pretrain, save_logs

    out = Path(args.out)
    env = gym.make(recsim_meta.envs.MULTI_DOMAIN_ID)
    if args.logs:
        log = load_logs(args.logs)
    else:
        log = collect_logs(env, args.episodes, seed=args.seed)
        save_logs(log, out / "logs.npz")
    policy = RecommenderPolicy.for_env(env, seed=args.seed)
    history = pretrain(policy.model, log, args.steps, seed=args.seed, log_dir=out / "tensorboard")
    policy.save(out / "model")
    print(f"model saved in {out / 'model'}; final losses " + ", ".join(f"{k} {v:.3f}" for k, v in history[-1].items()))


def _bert_run(folder: str):
    import gymnasium as gym

    from recsim_meta.agents import RecommenderPolicy, load_logs

    run = Path(folder)
    if not (run / "model").is_dir() or not (run / "logs.npz").is_file():
        raise FileNotFoundError(f"{run} holds no model/ and logs.npz: run recsim-meta bert pretrain --out {run} first")
    env = gym.make(recsim_meta.envs.MULTI_DOMAIN_ID)
    return env, RecommenderPolicy.load(run / "model", env), load_logs(run / "logs.npz")


def bert_evaluate_command(args: argparse.Namespace) -> None:
    from recsim_meta.agents import collect_logs
    from recsim_meta.evaluation.recommender_quality import offline_table

    env, policy, train = _bert_run(args.run)
    test = collect_logs(env, args.episodes, seed=args.seed)
    print(f"Next clicked item among each domain's items, {args.episodes} held-out episodes (other users):\n")
    print(offline_table(train, test, {"BERT": policy}))


def bert_play_command(args: argparse.Namespace) -> None:
    from recsim_meta.evaluation.recommender_quality import online_table

    _, policy, _ = _bert_run(args.run)
    ids = args.env or [recsim_meta.envs.PRESETS[d].env_id for d in recsim_meta.DOMAINS]
    domains = [next(d for d in recsim_meta.DOMAINS if recsim_meta.envs.PRESETS[d].env_id == i) for i in ids]
    print(f"{args.episodes} episodes per env (5 cohorts, the same users for both), mean return [95% CI]:\n")
    print(online_table(policy, args.episodes, args.seed, domains))


if __name__ == "__main__":
    main()
