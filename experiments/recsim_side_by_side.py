"""``VideoInterestEvolution-v0`` beside RecSim's interest-evolution environment: the random policy's return,
episode length and click-through rate over the same number of episodes in each.

RecSim runs in its own interpreter (``--recsim-python``: a virtual environment with ``recsim-no-tf``, ``gym`` 0.26
and ``six``, never a dependency of this project), with the slate size and candidate count of our preset and
documents resampled every step, as its ``create_environment`` makes them. Prints a Markdown table: each
figure's mean [95 % CI] in both and our figure relative to RecSim's.

    python -m venv /tmp/recsim_venv && /tmp/recsim_venv/bin/pip install recsim-no-tf "gym==0.26.2" six
    python experiments/recsim_side_by_side.py --recsim-python /tmp/recsim_venv/bin/python   # about 30 s
"""

from __future__ import annotations

import argparse
import json
import subprocess

import numpy as np

from recsim_meta.agents.baselines import RandomPolicy
from recsim_meta.envs import RecVectorEnv
from recsim_meta.evaluation.rollout import mean_ci, run_users

RECSIM_SCRIPT = """
import json, warnings
warnings.filterwarnings("ignore")
import numpy as np
from recsim.environments import interest_evolution
np.random.seed({seed})  # RecSim's choices and interest updates draw from numpy's global generator
env = interest_evolution.create_environment(
    {{"num_candidates": {candidates}, "slate_size": {slate}, "resample_documents": True, "seed": {seed}}}
)
rng = np.random.default_rng({seed})
returns, lengths, clicks = [], [], []
for _ in range({episodes}):
    observation, done, total, steps, clicked = env.reset(), False, 0.0, 0, 0
    while not done:
        slate = [int(i) for i in rng.permutation({candidates})[:{slate}]]
        observation, reward, done, _ = env.step(slate)[:4]
        total, steps = total + reward, steps + 1
        clicked += sum(response["click"] for response in observation["response"])
    returns.append(float(total)); lengths.append(steps); clicks.append(int(clicked))
print(json.dumps({{"returns": returns, "lengths": lengths, "clicks": clicks}}))
"""


def recsim_random(python: str, episodes: int, candidates: int, slate: int, seed: int) -> dict[str, np.ndarray]:
    script = RECSIM_SCRIPT.format(seed=seed, candidates=candidates, slate=slate, episodes=episodes)
    result = subprocess.run([python, "-c", script], capture_output=True, text=True, check=True, timeout=3600)
    return {key: np.array(values, dtype=np.float64) for key, values in json.loads(result.stdout).items()}


def ours_random(episodes: int, seed: int) -> dict[str, np.ndarray]:
    envs = RecVectorEnv(episodes, "video_interest_evolution")
    stats = run_users(envs, RandomPolicy(envs, seed), seed)
    return {"returns": stats.returns, "lengths": stats.lengths.astype(np.float64), "clicks": stats.clicks}


def side_by_side_table(recsim: dict[str, np.ndarray], ours: dict[str, np.ndarray]) -> str:
    lines = ["| random policy | RecSim | recsim_meta | recsim_meta / RecSim |", "|---|---:|---:|---:|"]
    for label, key in (("return", "returns"), ("episode length", "lengths")):
        theirs, mine = mean_ci(recsim[key]), mean_ci(ours[key])
        lines.append(
            f"| {label} | {theirs[0]:.1f} [{theirs[1]:.1f}, {theirs[2]:.1f}] | {mine[0]:.1f} [{mine[1]:.1f}, "
            f"{mine[2]:.1f}] | {mine[0] / theirs[0] - 1:+.1%} |"
        )
    theirs, mine = (data["clicks"].sum() / data["lengths"].sum() for data in (recsim, ours))
    lines.append(f"| click-through rate | {theirs:.3f} | {mine:.3f} | {mine / theirs - 1:+.1%} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recsim-python", required=True, help="python interpreter with recsim-no-tf installed")
    parser.add_argument("--episodes", type=int, default=1000, help="episodes in each (default 1000)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    envs = RecVectorEnv(1, "video_interest_evolution")
    recsim = recsim_random(
        args.recsim_python, args.episodes, envs.config.num_candidates, envs.config.slate_size, args.seed
    )
    print(
        f"{args.episodes} episodes each, random slates of {envs.config.slate_size} of {envs.config.num_candidates}:\n"
    )
    print(side_by_side_table(recsim, ours_random(args.episodes, args.seed)))


if __name__ == "__main__":
    main()
