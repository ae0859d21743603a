"""Pretrain the BERT recommender on logged data and measure it offline and online.

1. Logs: an epsilon-greedy oracle (epsilon 0.3) in ``MultiDomain-v0`` (training tasks of all six
   domains); training episodes from seed 0, held-out episodes (other users) from seed 100000.
2. Pretraining: the default ``RecommenderConfig`` with KG fusion, and the same with it off (ablation),
   same seed, data and steps.
3. Offline: HR@10 and NDCG@10 of the next clicked item over the domain's 500 items on the held-out
   logs, for popularity (click counts in the training logs), BERT and BERT without KG fusion.
4. Online: in each domain env, greedy BERT (top-K of its scores) against popularity, the same
   evaluation episodes (paired seeds, 5 cohorts) for both; mean return with a 95 % CI and CTR.

    python experiments/bert_quality.py                      # the README's figures (about 18 minutes on 2 cores)
    python experiments/bert_quality.py --episodes 100 --steps 50 --online-episodes 10   # a smoke run

Writes the logs, both checkpoints and TensorBoard logs under ``--out`` and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import gymnasium as gym

from recsim_meta.agents import RecommenderPolicy
from recsim_meta.agents.logged_data import collect_logs, save_logs
from recsim_meta.agents.pretraining import pretrain
from recsim_meta.envs import MULTI_DOMAIN_ID
from recsim_meta.evaluation.recommender_quality import offline_table, online_table
from recsim_meta.threads import set_threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=3000, help="training log episodes (default 3000)")
    parser.add_argument("--test-episodes", type=int, default=150, help="held-out log episodes (default 150)")
    parser.add_argument("--steps", type=int, default=3000, help="pretraining steps of 256 rows (default 3000)")
    parser.add_argument("--online-episodes", type=int, default=100, help="evaluation episodes per env (default 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--out", type=Path, default=Path("runs/bert_quality"), help="output folder")
    args = parser.parse_args()
    set_threads(args.threads)
    start = time.perf_counter()

    env = gym.make(MULTI_DOMAIN_ID)
    train = collect_logs(env, args.episodes, seed=args.seed)
    test = collect_logs(env, args.test_episodes, seed=args.seed + 100_000)
    save_logs(train, args.out / "train_logs.npz")
    save_logs(test, args.out / "test_logs.npz")
    print(f"logs: {len(train)} training rows, {len(test)} held-out rows")

    models = {}
    for name, kg_fusion in (("BERT", True), ("BERT no KG", False)):
        policy = RecommenderPolicy.for_env(env, seed=args.seed, kg_fusion=kg_fusion)
        history = pretrain(policy.model, train, args.steps, seed=args.seed, log_dir=args.out / "tensorboard" / name)
        policy.save(args.out / name.replace(" ", "_"))
        print(f"{name}: final losses " + ", ".join(f"{k} {v:.3f}" for k, v in history[-1].items()))
        models[name] = policy

    print("\nOffline next-item prediction on held-out logs:\n")
    print(offline_table(train, test, models))
    print(f"\nOnline, {args.online_episodes} episodes per env (5 cohorts, paired seeds), mean [95% CI]:\n")
    print(online_table(models["BERT"], args.online_episodes, args.seed))
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
