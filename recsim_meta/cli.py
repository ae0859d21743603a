"""The ``recsim-meta`` command."""

from __future__ import annotations

import argparse

import gymnasium as gym

import recsim_meta
from recsim_meta.agents import OraclePolicy, PopularityPolicy, RandomPolicy
from recsim_meta.evaluation import mean_ci, run_episodes


def demo(env_ids: list[str], episodes: int, seed: int) -> str:
    """Simulate ``episodes`` episodes per env and policy; return a Markdown summary table."""
    rows = ["| env | policy | mean return (95% CI) | session length | CTR |", "|---|---|---|---|---|"]
    for env_id in env_ids:
        env = gym.make(env_id)
        policies = {"random": RandomPolicy(env, seed), "popularity": PopularityPolicy(env), "oracle": OraclePolicy(env)}
        for name, policy in policies.items():
            stats = run_episodes(env, policy, episodes, seed=seed)
            mean, low, high = mean_ci(stats.returns)
            rows.append(
                f"| {env_id} | {name} | {mean:.1f} ({low:.1f}, {high:.1f}) | "
                f"{stats.lengths.mean():.1f} | {stats.ctr.mean():.2f} |"
            )
        env.close()
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="recsim-meta", description=recsim_meta.__doc__)
    parser.add_argument("--version", action="version", version=recsim_meta.__version__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help="simulate a few episodes with simple policies and print a summary")
    demo_parser.add_argument(
        "--env", action="append", choices=recsim_meta.ENV_IDS, help="env id (repeatable; default: every registered id)"
    )
    demo_parser.add_argument("--episodes", type=int, default=10, help="episodes per env and policy (default 10)")
    demo_parser.add_argument("--seed", type=int, default=0, help="seed of the first episode (default 0)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        if args.episodes < 1:
            parser.error("--episodes must be >= 1")
        print(demo(args.env or list(recsim_meta.ENV_IDS), args.episodes, args.seed))


if __name__ == "__main__":
    main()
