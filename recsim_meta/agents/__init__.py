"""Agents: reference baselines (random, popularity, the myopic and the planning oracle), the BERT recommender
and the meta-RL agent that wraps it.

The torch-based names load on first use, so the envs and baselines import without torch.
"""

from importlib import import_module

from recsim_meta.agents.baselines import BASELINES, OraclePolicy, PopularityPolicy, RandomPolicy
from recsim_meta.agents.planning import PlanningOracle

_LAZY = {
    "BertRecommender": "recsim_meta.agents.bert_recommender",
    "RecommenderConfig": "recsim_meta.agents.bert_recommender",
    "RecommenderPolicy": "recsim_meta.agents.recommender_policy",
    "InteractionLog": "recsim_meta.agents.logged_data",
    "collect_logs": "recsim_meta.agents.logged_data",
    "load_logs": "recsim_meta.agents.logged_data",
    "save_logs": "recsim_meta.agents.logged_data",
    "pretrain": "recsim_meta.agents.pretraining",
    "MetaRLAgent": "recsim_meta.agents.meta_rl",
    "MetaConfig": "recsim_meta.agents.meta_training",
    "meta_train": "recsim_meta.agents.meta_training",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["BASELINES", "OraclePolicy", "PlanningOracle", "PopularityPolicy", "RandomPolicy", *_LAZY]
