"""Evaluation: rollouts and statistics."""

from recsim_meta.evaluation.rollout import EpisodeStats, mean_ci, run_episodes

__all__ = ["EpisodeStats", "mean_ci", "run_episodes"]
