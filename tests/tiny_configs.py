"""Tiny configs shared by the tests: models and runs small enough for the default suite."""

TINY_MODEL = {"hidden_size": 32, "num_layers": 2, "num_heads": 2, "intermediate_size": 64, "dropout": 0.0}
"""A BertRecommender config."""

TINY = {
    "hidden_size": 16,
    "num_layers": 1,
    "num_heads": 2,
    "intermediate_size": 32,
    "context_length": 10,
    "log_episodes": 12,
    "pretrain_steps": 5,
    "iterations": 3,
    "tasks_per_iteration": 2,
    "support_episodes": 1,
    "query_episodes": 1,
    "ppo_epochs": 2,
    "checkpoint_every": 1,
    "adaptation_episodes": [0, 1, 2],
    "eval_episodes": 2,
    "test_domain_tasks": 1,
    "finetune_steps": 2,
}
"""A MetaConfig: meta-trains in seconds."""
