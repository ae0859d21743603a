"""The six domains side by side: return, session length, CTR and reward scale under reference policies.

Usage: python experiments/domain_table.py [--episodes 200] [--cohorts 4] [--policy random --policy oracle]
"""

from __future__ import annotations

import argparse

from recsim_meta.agents import BASELINES
from recsim_meta.envs import DOMAINS, PRESETS
from recsim_meta.evaluation import summary_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=200, help="episodes per domain and policy")
    parser.add_argument("--cohorts", type=int, default=4, help="cohorts the episodes are spread over")
    parser.add_argument(
        "--policy", action="append", choices=list(BASELINES), help="default: random, popularity, oracle"
    )
    args = parser.parse_args()
    env_ids = [PRESETS[domain].env_id for domain in DOMAINS]
    print(summary_table(env_ids, args.policy or ["random", "popularity", "oracle"], args.episodes, args.cohorts))


if __name__ == "__main__":
    main()
