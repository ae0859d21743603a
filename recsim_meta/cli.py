"""The ``recsim-meta`` command."""

from __future__ import annotations

import argparse

import recsim_meta
from recsim_meta.agents import BASELINES
from recsim_meta.evaluation import summary_table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="recsim-meta", description=recsim_meta.__doc__)
    parser.add_argument("--version", action="version", version=recsim_meta.__version__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help="simulate a few episodes with simple policies and print a summary")
    demo_parser.add_argument(
        "--env", action="append", choices=recsim_meta.ENV_IDS, help="env id (repeatable; default: every registered id)"
    )
    demo_parser.add_argument(
        "--policy",
        action="append",
        choices=list(BASELINES),
        help="policy (repeatable; default: random, popularity, oracle)",
    )
    demo_parser.add_argument("--episodes", type=int, default=10, help="episodes per env and policy (default 10)")
    demo_parser.add_argument(
        "--cohorts", type=int, default=2, help="cohorts (tasks) the episodes are spread over (default 2)"
    )
    demo_parser.add_argument(
        "--seed", type=int, default=0, help="seed of the cohorts and the first episode (default 0)"
    )
    train_parser = commands.add_parser(
        "meta-train", help="pretrain the BERT recommender and meta-train the meta-RL agent from a YAML config"
    )
    train_parser.add_argument("--config", required=True, help="YAML config, e.g. experiments/meta_quick.yaml")
    train_parser.add_argument("--out", default="runs/meta", help="output folder (default runs/meta)")
    train_parser.add_argument("--seed", type=int, help="override the config's seed")
    train_parser.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    train_parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    train_parser.add_argument("--device", type=device_name, default="auto", help=DEVICE_HELP)
    adapt_parser = commands.add_parser(
        "adapt", help="adapt a meta-trained agent to a task and compare its return before and after"
    )
    adapt_parser.add_argument("--checkpoint", required=True, help="a saved agent, e.g. runs/meta/checkpoint")
    adapt_parser.add_argument("--task", required=True, help="DOMAIN/COHORT, e.g. video/3 (cohorts of the run's config)")
    adapt_parser.add_argument("--episodes", type=int, default=5, help="adaptation episodes (default 5)")
    adapt_parser.add_argument(
        "--mode",
        default="both",
        help="in_context, gradient, both, or finetune (every parameter, Adam, the config's finetune_steps "
        "and finetune_lr) (default both)",
    )
    adapt_parser.add_argument("--eval-episodes", type=int, default=20, help="greedy episodes before and after")
    adapt_parser.add_argument("--seed", type=int, default=0)
    adapt_parser.add_argument("--device", type=device_name, default="auto", help=DEVICE_HELP)
    bench_parser = commands.add_parser(
        "benchmark", help="run every method on the test tasks at several budgets; CSV, Markdown report and plots"
    )
    bench_parser.add_argument("--config", required=True, help="YAML config, e.g. experiments/benchmark_quick.yaml")
    bench_parser.add_argument("--out", default="runs/benchmark", help="output folder (default runs/benchmark)")
    bench_parser.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    bench_parser.add_argument(
        "--backend",
        choices=["processes", "ray"],
        default="processes",
        help="local processes, or Ray tasks (optional extra; RAY_ADDRESS names a cluster)",
    )
    bench_parser.add_argument(
        "--report-only", action="store_true", help="only rewrite the report and plots from --out/results.csv"
    )
    references_parser = commands.add_parser(
        "reference-scores",
        help="compute the reference scores (random, popularity, myopic and planning oracles) of every env id's "
        "default task and of the default splits' tasks (about 5 minutes on 2 cores with --workers 2)",
    )
    references_parser.add_argument(
        "--out", help="JSON file to write (default: the package's data file, recsim_meta/data/reference_scores.json)"
    )
    references_parser.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    args = parser.parse_args(argv)
    if args.command == "reference-scores":
        from recsim_meta.evaluation.references import DATA_FILE, write_references

        if args.workers < 1:
            parser.error(f"--workers must be >= 1, got {args.workers}")
        write_references(args.out or DATA_FILE, args.workers)
    elif args.command == "benchmark":
        benchmark_command(args, parser)
    elif args.command == "meta-train":
        meta_train_command(args)
    elif args.command == "adapt":
        adapt_command(args, parser)
    elif args.command == "demo":
        if args.cohorts < 1 or args.episodes < args.cohorts:
            parser.error("need --cohorts >= 1 and --episodes >= --cohorts")
        env_ids = args.env or list(recsim_meta.ENV_IDS)
        policies = args.policy or ["random", "popularity", "oracle"]
        print(summary_table(env_ids, policies, args.episodes, args.cohorts, args.seed))


DEVICE_HELP = "where the model runs: auto (CUDA when available, else the CPU), cpu, cuda, cuda:N (default auto)"


def device_name(text: str) -> str:
    """``text`` when torch knows it as a device (or it is ``auto``); argparse reports the error otherwise."""
    import torch

    try:
        return text if text == "auto" else str(torch.device(text))
    except RuntimeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a device; accepted: auto, cpu, cuda, cuda:N") from None


def meta_train_command(args: argparse.Namespace) -> None:
    import torch

    from recsim_meta.agents.meta_training import MetaConfig, meta_train

    torch.set_num_threads(args.threads)
    overrides = {} if args.seed is None else {"seed": args.seed}
    meta_train(MetaConfig.from_yaml(args.config, **overrides), args.out, resume=args.resume, device=args.device)
    print(f"agent saved in {args.out}/checkpoint")


def benchmark_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    from pathlib import Path

    from recsim_meta.evaluation.benchmark import BenchmarkConfig, run_benchmark
    from recsim_meta.evaluation.report import write_report

    if args.workers < 1:
        parser.error(f"--workers must be >= 1, got {args.workers}")
    out = Path(args.out)
    if args.report_only:
        if not (out / "results.csv").is_file():
            parser.error(f"--report-only needs {out / 'results.csv'}")
        try:
            print(f"report written to {write_report(out / 'results.csv', out)}")
        except ValueError as error:
            parser.error(str(error))
        return
    try:
        config = BenchmarkConfig.from_yaml(args.config)
    except ValueError as error:
        parser.error(str(error))
    results = run_benchmark(config, out, workers=args.workers, backend=args.backend)
    print(f"results in {results}; report in {out / 'report.md'}")


def adapt_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    from pathlib import Path

    from recsim_meta.agents.meta_rl import MODES, MetaRLAgent
    from recsim_meta.agents.meta_training import MetaConfig
    from recsim_meta.evaluation.rollout import mean_ci, run_episodes
    from recsim_meta.sim.tasks import sample_tasks

    checkpoint = Path(args.checkpoint)
    config_file = checkpoint.parent / "config.yaml"
    config = MetaConfig.from_yaml(config_file) if config_file.is_file() else MetaConfig()
    domain, _, cohort = args.task.partition("/")
    if domain not in recsim_meta.envs.DOMAINS or not cohort.isdigit() or int(cohort) >= config.num_cohorts:
        parser.error(
            f"--task must be DOMAIN/COHORT with DOMAIN one of {', '.join(recsim_meta.envs.DOMAINS)} "
            f"and COHORT in 0..{config.num_cohorts - 1}, got {args.task!r}"
        )
    if args.mode not in (*MODES, "finetune"):
        parser.error(f"--mode must be one of {', '.join(MODES)}, finetune, got {args.mode!r}")
    task = sample_tasks(domain, config.num_cohorts, config.task_seed)[int(cohort)]
    env = config.make_env()
    agent = MetaRLAgent.load(checkpoint, env, seed=args.seed, device=args.device)
    options = {"task": task}
    before = run_episodes(env, agent, args.eval_episodes, 1_000_000 + args.seed, options)
    if args.mode == "finetune":
        rollout = agent.collect([env], [task], [agent.new_state()], args.episodes, [2_000_000 + args.seed])
        agent = agent.finetuned(rollout, config.finetune_steps, config.finetune_lr)
    else:
        agent.adapt(args.episodes, task, args.mode, seed=2_000_000 + args.seed)
    after = run_episodes(env, agent, args.eval_episodes, 1_000_000 + args.seed, options)
    print(f"task {args.task}, {args.episodes} adaptation episodes, mode {args.mode}:")
    for name, stats in (("before", before), ("after", after)):
        mean, low, high = mean_ci(stats.returns)
        print(f"  {name}: mean return {mean:.2f} [{low:.2f}, {high:.2f}] over {args.eval_episodes} episodes")


if __name__ == "__main__":
    main()
