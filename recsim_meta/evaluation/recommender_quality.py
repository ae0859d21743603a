"""How good a pretrained BERT recommender is: offline next-item metrics against popularity on held-out logs,
and online returns against popularity in the domain envs (``experiments/bert_quality.py``, ``recsim-meta bert``)."""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym

from recsim_meta.agents import PopularityPolicy, RecommenderPolicy
from recsim_meta.agents.logged_data import InteractionLog
from recsim_meta.agents.pretraining import next_item_scores
from recsim_meta.envs import DOMAINS, PRESETS
from recsim_meta.evaluation.offline import hit_rate_ndcg, popularity_scores
from recsim_meta.evaluation.rollout import evaluation_tasks, mean_ci, run_on_tasks


def offline_table(train: InteractionLog, test: InteractionLog, models: dict[str, RecommenderPolicy]) -> str:
    """Markdown: per domain of ``test``, HR@10 and NDCG@10 of the next clicked item among the domain's items, for
    popularity (click counts in ``train``) and each of ``models``."""
    size = max(test.num_items)
    rankers = {"popularity": popularity_scores(train.clicked_item, train.domain, test.domain, size)}
    rankers.update({name: next_item_scores(policy.model, test) for name, policy in models.items()})
    lines = [
        "| domain | clicks | " + " | ".join(f"{name} HR@10 | {name} NDCG@10" for name in rankers) + " |",
        "|---|---:|" + "---:|---:|" * len(rankers),
    ]
    groups = [(d, test.clicked & (test.domain == i)) for i, d in enumerate(test.domains)]
    for domain, rows in [*groups, ("all", test.clicked)]:
        cells = []
        for scores in rankers.values():
            hr, ndcg = hit_rate_ndcg(scores[rows], test.clicked_item[rows])
            cells += [f"{hr:.3f}", f"{ndcg:.3f}"]
        lines.append(f"| {domain} | {rows.sum()} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def online_table(model: RecommenderPolicy, episodes: int, seed: int, domains: Sequence[str] = DOMAINS) -> str:
    """Markdown: in each domain's env, the mean return [95 % CI] and CTR of popularity and of the recommender acting
    greedily (top-K of its scores), on the same ``episodes`` users spread over 5 cohorts."""
    lines = [
        "| env | popularity return | BERT greedy return | popularity CTR | BERT CTR |",
        "|---|---:|---:|---:|---:|",
    ]
    for domain in domains:
        env = gym.make(PRESETS[domain].env_id)
        tasks = evaluation_tasks(env, 5, seed)
        results = {
            "popularity": run_on_tasks(env, PopularityPolicy, tasks, episodes, seed),
            "bert": run_on_tasks(env, lambda e: RecommenderPolicy(model.model, e), tasks, episodes, seed),
        }
        cells = []
        for stats in results.values():
            mean, low, high = mean_ci(stats.returns)
            cells.append(f"{mean:.2f} [{low:.2f}, {high:.2f}]")
        cells += [f"{stats.ctr.mean():.3f}" for stats in results.values()]
        lines.append(f"| {env.spec.id} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
