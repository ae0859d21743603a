"""Meta-training throughput: env steps per second while collecting and overall, before and after batching.

Both rows run the same code, one meta-training iteration after another from the same pretrained-size model
(untrained: throughput does not depend on the weights), and time where the iteration's time goes:

- ``one user per task``: the shape meta-training had when it stepped one user per task at a time: 6 tasks,
  each's 5 support and 2 query episodes played by one user in turn (a forward pass of 6 observations per step),
  every step in 3 PPO epochs;
- ``many users per task``: the quick config's shape (``experiments/meta_quick.yaml``): more tasks, each's
  support and query users stepped together, the PPO epochs on a subsample of the steps.

    python experiments/meta_throughput.py > docs/results/meta_throughput.md   # about 3 minutes
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np
import torch

from recsim_meta.agents.bert_recommender import BertRecommender
from recsim_meta.agents.encoding import config_for_env, item_features_for_env, kg_edges_for_env
from recsim_meta.agents.meta_rl import MetaRLAgent
from recsim_meta.agents.meta_training import MODEL_SIZES, MetaConfig, draw_tasks, make_optimizer
from recsim_meta.threads import set_threads

QUICK_CONFIG = "experiments/meta_quick.yaml"


def timed_iterations(agent: MetaRLAgent, config: MetaConfig, shape: dict, iterations: int) -> dict[str, float]:
    """Run ``iterations`` meta-training iterations of ``shape``; seconds spent collecting, acting (the model's
    forward passes while collecting) and in all, and steps."""
    optimizer = make_optimizer(agent, config)
    tasks = agent.env.unwrapped.tasks
    seconds = {"collecting": 0.0, "acting": 0.0}
    steps = 0
    collect, act_batch = agent.collector.collect, agent.act_batch

    def timed(function, part: str):
        def call(*args, **kwargs):
            start = time.perf_counter()
            result = function(*args, **kwargs)
            seconds[part] += time.perf_counter() - start
            return result

        return call

    def counted_collect(*args, **kwargs):
        nonlocal steps
        rollout = timed(collect, "collecting")(*args, **kwargs)
        steps += len(rollout.reward)
        return rollout

    agent.collector.collect, agent.act_batch = counted_collect, timed(act_batch, "acting")
    total = 0.0
    for iteration in range(iterations):
        rng = np.random.default_rng([0, iteration])
        chosen, seeds = draw_tasks(rng, tasks, shape["tasks_per_iteration"])
        start = time.perf_counter()
        if shape["sequential"]:  # one user per task, episodes in turn
            states = [agent.new_state() for _ in chosen]
            support = agent.collect(chosen, states, episodes=shape["support_episodes"], seeds=seeds)
            adapted = agent.adapt_states(support, states, "both")
            query = agent.collect(chosen, adapted, episodes=shape["query_episodes"], seeds=[s + 1 for s in seeds])
            agent.model.eval()
            for _ in range(shape["ppo_epochs"]):
                losses = agent.meta_losses(support, query, len(chosen), agent.settings.gamma)
                loss = agent.total_loss(losses, agent.hyperparameters())
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        else:
            agent.meta_step(
                chosen,
                shape["support_episodes"],
                shape["query_episodes"],
                seeds,
                optimizer,
                shape["ppo_epochs"],
                update_fraction=shape["update_fraction"],
            )
        total += time.perf_counter() - start
    agent.collector.collect, agent.act_batch = collect, act_batch
    return {**seconds, "total": total, "steps": steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=3, help="iterations timed per row (default 3)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per row, the fastest shown (default 3)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    set_threads(args.threads)
    config = MetaConfig.from_yaml(QUICK_CONFIG)
    env = config.make_env()
    torch.manual_seed(0)
    model_config = config_for_env(env, **{k: getattr(config, k) for k in MODEL_SIZES})
    model = BertRecommender(model_config, kg_edges_for_env(env, model_config), item_features_for_env(env, model_config))
    shapes = {
        "one user per task": {
            "sequential": True,
            "tasks_per_iteration": 6,
            "support_episodes": 5,
            "query_episodes": 2,
            "ppo_epochs": 3,
        },
        "many users per task": {
            "sequential": False,
            "tasks_per_iteration": config.tasks_per_iteration,
            "support_episodes": config.support_episodes,
            "query_episodes": config.query_episodes,
            "ppo_epochs": config.ppo_epochs,
            "update_fraction": config.update_fraction,
        },
    }
    print(
        f"Meta-training iterations of the quick config's model, {args.threads} torch thread(s), {args.iterations} "
        f"iterations per row, the fastest of {args.repeats} runs of each row, alternating, in one run:\n"
    )
    print(
        "| collection | tasks x (support + query) | env steps | collecting (steps/s) | overall (steps/s) | "
        "collecting's share | the model's share of collecting | update per step (ms) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    initial = copy.deepcopy(model.state_dict())
    results: dict[str, list[dict[str, float]]] = {name: [] for name in shapes}
    for repeat in range(args.repeats):  # the rows alternate, so a slow spell of the machine hits both
        for name, shape in shapes.items():
            model.load_state_dict(initial)  # every repeat does the same work from the same weights
            agent = MetaRLAgent(model, env, config.settings, seed=0, device="cpu")
            if repeat == 0:
                timed_iterations(agent, config, shape, 1)  # warm-up: the tasks' worlds, compiled loops
                model.load_state_dict(initial)
            results[name].append(timed_iterations(agent, config, shape, args.iterations))
    rates = {}
    for name, shape in shapes.items():
        result = min(results[name], key=lambda r: r["total"])
        collecting = result["steps"] / result["collecting"]
        overall = result["steps"] / result["total"]
        rates[name] = (collecting, overall)
        update = 1000 * (result["total"] - result["collecting"]) / result["steps"]
        layout = f"{shape['tasks_per_iteration']} x ({shape['support_episodes']} + {shape['query_episodes']})"
        print(
            f"| {name} | {layout} | {result['steps']:,} | {collecting:,.0f} | {overall:,.0f} | "
            f"{result['collecting'] / result['total']:.0%} | {result['acting'] / result['collecting']:.0%} | {update:.2f} |",
            flush=True,
        )
    (before, after) = rates.values()
    print(f"\nBatching: {after[0] / before[0]:.1f}x the steps/s while collecting, {after[1] / before[1]:.1f}x overall.")


if __name__ == "__main__":
    main()
