"""Agents: reference baselines (and, later, the BERT recommender and the meta-RL agent)."""

from recsim_meta.agents.baselines import BASELINES, OraclePolicy, PopularityPolicy, RandomPolicy

__all__ = ["BASELINES", "OraclePolicy", "PopularityPolicy", "RandomPolicy"]
