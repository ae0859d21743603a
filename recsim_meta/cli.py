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
    args = parser.parse_args(argv)
    if args.command == "demo":
        if args.cohorts < 1 or args.episodes < args.cohorts:
            parser.error("need --cohorts >= 1 and --episodes >= --cohorts")
        env_ids = args.env or list(recsim_meta.ENV_IDS)
        policies = args.policy or ["random", "popularity", "oracle"]
        print(summary_table(env_ids, policies, args.episodes, args.cohorts, args.seed))


if __name__ == "__main__":
    main()
