"""Agents: reference baselines (and, later, the BERT recommender and the meta-RL agent)."""

from recsim_meta.agents.baselines import OraclePolicy, PopularityPolicy, RandomPolicy

__all__ = ["OraclePolicy", "PopularityPolicy", "RandomPolicy"]
