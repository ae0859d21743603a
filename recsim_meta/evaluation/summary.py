"""A Markdown table of how reference policies do in each env: return, session length, CTR, reward scale."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from recsim_meta.agents import BASELINES
from recsim_meta.evaluation.rollout import evaluation_tasks, mean_ci, run_on_tasks


def summary_table(env_ids: list[str], policies: list[str], episodes: int, cohorts: int = 4, seed: int = 0) -> str:
    """Run ``episodes`` episodes per env and policy, spread over ``cohorts`` tasks, and tabulate them.

    Columns: mean return with its 95 % CI, mean session length, CTR (clicks per step), reward per
    click (the domain's reward scale) and the standard deviation of returns.
    """
    unknown = sorted(set(policies) - set(BASELINES))
    if unknown:
        raise ValueError(f"unknown policies {unknown}; accepted: {', '.join(BASELINES)}")
    if episodes < cohorts:
        raise ValueError(f"need episodes >= cohorts, got {episodes} < {cohorts}")
    rows = [
        "| env | policy | mean return (95% CI) | session length | CTR | reward per click | return std |",
        "|---|---|---|---|---|---|---|",
    ]
    for env_id in env_ids:
        env = gym.make(env_id)
        tasks = evaluation_tasks(env, cohorts, seed)
        for name in policies:
            stats = run_on_tasks(env, lambda e, name=name: BASELINES[name](e, seed), tasks, episodes, seed)
            mean, low, high = mean_ci(stats.returns)
            per_click = stats.returns.sum() / max(stats.clicks.sum(), 1)
            rows.append(
                f"| {env_id} | {name} | {mean:.1f} ({low:.1f}, {high:.1f}) | {stats.lengths.mean():.1f} | "
                f"{stats.clicks.sum() / stats.lengths.sum():.2f} | {per_click:.2f} | {np.std(stats.returns):.1f} |"
            )
        env.close()
    return "\n".join(rows)
