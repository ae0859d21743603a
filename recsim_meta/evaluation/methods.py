"""The benchmark's methods and regimes: what the benchmark runs and its report shows."""

REFERENCES = ("random", "popularity", "oracle", "planning")
"""Methods that do not learn: run at budget 0 only, and shown as flat lines across budgets."""
SB3_METHODS = {  # the SB3 agents trained on a task: algorithm and policy
    "ppo": ("ppo", "MultiInputPolicy"),
    "a2c": ("a2c", "MultiInputPolicy"),
    "dqn": ("dqn", "MultiInputPolicy"),
    "multitask_ppo": ("ppo", "MultiInputPolicy"),
    "ppo_slate": ("ppo", "SlatePolicy"),
    "a2c_slate": ("a2c", "SlatePolicy"),
    "dqn_slate": ("dqn", "SlateDQNPolicy"),
}
METHODS = (
    *REFERENCES,
    "greedy",
    "ppo",
    "a2c",
    "dqn",
    "multitask_ppo",
    "bert",
    "meta_rl",
    "meta_finetuned",
    "ppo_slate",
    "a2c_slate",
    "dqn_slate",
)
REGIMES = ("held_out_cohorts", "held_out_domain")
