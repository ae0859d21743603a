"""recsim_meta: recommender-system simulators as Gymnasium environments, and meta-RL agents for them.

Importing the package registers every environment id (``recsim_meta.ENV_IDS``).
"""

from recsim_meta.envs import (
    DOMAINS,
    ENV_IDS,
    DomainConfig,
    MultiDomainEnv,
    MultiDomainVectorEnv,
    RecEnv,
    RecVectorEnv,
    domain_variant,
    make_config,
)
from recsim_meta.evaluation.references import normalized_score, reference
from recsim_meta.sim.tasks import Task, TaskSplits, make_splits, sample_tasks

__version__ = "0.2.0"

__all__ = [
    "DOMAINS",
    "ENV_IDS",
    "DomainConfig",
    "MultiDomainEnv",
    "MultiDomainVectorEnv",
    "RecEnv",
    "RecVectorEnv",
    "Task",
    "TaskSplits",
    "domain_variant",
    "make_config",
    "make_splits",
    "normalized_score",
    "reference",
    "sample_tasks",
    "__version__",
]
