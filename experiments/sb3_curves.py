"""Learning curves of SB3 PPO with the slate policy and with ``MultiInputPolicy``, at equal env steps.

For each env and seed, PPO trains through the native VecEnv (the hyperparameters of
``experiments/hyperparams_scale/ppo.yml``: 64 users at once) and, at each point of ``--points``, plays one
episode of each of 200 users of the env's default task greedily (users no run trains on); the score is
``recsim_meta.normalized_score`` of the mean return. Prints a Markdown table (mean [min, max] over seeds) and
writes a PNG of the curves.

    python experiments/sb3_curves.py > docs/results/sb3_curves.md   # about 15 minutes
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import recsim_meta
from recsim_meta.agents.sb3 import make_native_vec_env
from recsim_meta.agents.sb3.zoo import make_agent, read_hyperparameters
from recsim_meta.envs import RecVectorEnv
from recsim_meta.evaluation.references import ENV_PRESETS
from recsim_meta.evaluation.rollout import run_users
from recsim_meta.threads import set_threads

POLICIES = ("SlatePolicy", "MultiInputPolicy")
EVALUATION_SEED = 30_000
EVALUATION_USERS = 200


def score(model, env_id: str) -> float:
    """The normalised score of ``model`` acting greedily on ``EVALUATION_USERS`` users of ``env_id``'s default task."""
    envs = RecVectorEnv(EVALUATION_USERS, ENV_PRESETS[env_id])

    class Greedy:
        def predict(self, observation, deterministic=True):
            return model.predict(observation, deterministic=True)

    return recsim_meta.normalized_score(env_id, run_users(envs, Greedy(), EVALUATION_SEED).returns.mean())


def curve(env_id: str, policy: str, seed: int, points: list[int], hyperparameters: str) -> list[float]:
    arguments = {**read_hyperparameters(hyperparameters, "ppo", env_id), "policy": policy}
    envs = make_native_vec_env(env_id, arguments["n_envs"], seed=seed)
    model = make_agent("ppo", envs, arguments, seed)
    scores, done = [], 0
    for point in points:
        model.learn(point - done, reset_num_timesteps=False)
        done = point
        scores.append(score(model, env_id))
    return scores


def plot(results: dict, points: list[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    env_ids = list(dict.fromkeys(env_id for env_id, _ in results))
    figure, axes = plt.subplots(1, len(env_ids), figsize=(5 * len(env_ids), 3.8), squeeze=False)
    for axis, env_id in zip(axes[0], env_ids, strict=True):
        for policy in POLICIES:
            runs = np.array(results[(env_id, policy)])
            line = axis.plot(points, runs.mean(axis=0), marker="o", label=policy)[0]
            axis.fill_between(points, runs.min(axis=0), runs.max(axis=0), alpha=0.15, color=line.get_color())
        oracle = recsim_meta.normalized_score(env_id, recsim_meta.reference(env_id).scores["oracle"][0])
        axis.axhline(oracle, color="grey", linestyle="--", linewidth=1, label="myopic oracle")
        axis.axhline(1.0, color="k", linestyle="--", linewidth=1, label="planning oracle")
        axis.axhline(0.0, color="grey", linestyle=":", linewidth=1, label="random")
        axis.set(xscale="log", title=env_id, xlabel="env steps", ylabel="normalised score")
        axis.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=["recsim_meta/Video-v0", "recsim_meta/News-v0"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--points", type=int, nargs="+", default=[10_000, 30_000, 100_000, 300_000])
    parser.add_argument("--hyperparameters", default="experiments/hyperparams_scale")
    parser.add_argument("--plot", type=Path, default=Path("docs/sb3_curves.png"))
    args = parser.parse_args()
    set_threads(1)
    results = {
        (env_id, policy): [curve(env_id, policy, seed, args.points, args.hyperparameters) for seed in args.seeds]
        for env_id in args.envs
        for policy in POLICIES
    }
    print(f"PPO through the native VecEnv, {len(args.seeds)} seeds; normalised score, mean [min, max] over seeds:\n")
    print("| env id | policy | " + " | ".join(f"{p:,} steps" for p in args.points) + " |")
    print("|---|---|" + "---:|" * len(args.points))
    for (env_id, policy), runs in results.items():
        runs = np.array(runs)
        cells = [
            f"{m:.2f} [{lo:.2f}, {hi:.2f}]" for m, lo, hi in zip(runs.mean(0), runs.min(0), runs.max(0), strict=True)
        ]
        print(f"| `{env_id}` | {policy} | " + " | ".join(cells) + " |")
    plot(results, args.points, args.plot)


if __name__ == "__main__":
    main()
