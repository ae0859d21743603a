"""Evaluation: rollouts, statistics and summary tables."""

from recsim_meta.evaluation.rollout import EpisodeStats, evaluation_tasks, mean_ci, run_episodes, run_on_tasks
from recsim_meta.evaluation.summary import summary_table

__all__ = ["EpisodeStats", "evaluation_tasks", "mean_ci", "run_episodes", "run_on_tasks", "summary_table"]
