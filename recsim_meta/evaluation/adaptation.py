"""Meta-test: adaptation curves on held-out tasks, for each adaptation mode and the fine-tuned baseline.

For every held-out task (held-out cohorts of the seen domains; cohorts of the left-out domain), the meta-RL
agent plays ``max(points)`` adaptation episodes of the task with sampled slates, its memory filling as it
goes. After the first ``k`` of them (``k`` in ``points``) it is adapted in each mode (``in_context``: the
memory; ``gradient``: Meta-SGD steps on those episodes; ``both``) and plays ``eval_episodes`` greedy
episodes. The baseline (``finetuned``), the same recommender pretrained on the pooled training tasks
without meta-learning, is fine-tuned (``MetaRLAgent.finetuned``: Adam on all parameters, the supervised
slate losses) on the very same ``k`` episodes, and so is the meta-trained agent (``meta_finetuned``: the
same fine-tuning from the meta-learned initialisation); all are evaluated on the same users (paired
seeds). ``score`` is ``normalized_score`` of the return, ``(R - R_random) / (R_planning - R_random)`` with the
task's shipped reference scores: 0 for the random policy, 1 for the planning oracle.

Where a task's result after adaptation turns on which episodes it adapted on (fine-tuning on a new domain
does), ``adaptation_draws`` D > 1 repeats the adaptation from D independent sets of adaptation episodes (new
users of the cohort; same evaluation users) and reports the mean return over them.

The same procedure on the validation cohorts of the seen domains (``validation_cohorts``) chooses test-time
settings without the held-out tasks: ``choose_adaptation`` picks the Meta-SGD steps and learning-rate scale.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from recsim_meta.agents.bert_recommender import BertRecommender
from recsim_meta.agents.meta_rl import MODES, MetaRLAgent
from recsim_meta.agents.meta_training import TASK_SEED_STRIDE, MetaConfig
from recsim_meta.agents.rollouts import Rollout, TaskState, concat_rollouts
from recsim_meta.atomic_files import atomic_file
from recsim_meta.evaluation.references import normalized_score
from recsim_meta.evaluation.rollout import mean_ci
from recsim_meta.evaluation.statistics import sign_flip_p
from recsim_meta.sim.tasks import Task

FINETUNED = "finetuned"
META_FINETUNED = "meta_finetuned"
METHODS = (*MODES, FINETUNED, META_FINETUNED)
TEST_REGIMES = ("held_out_cohorts", "held_out_domain")
REGIMES = (*TEST_REGIMES, "validation_cohorts")  # validation: to choose test-time settings on
COLUMNS = ("seed", "regime", "task", "method", "episodes", "return", "score")


def meta_test(
    agent: MetaRLAgent,
    baseline: BertRecommender | None,
    config: MetaConfig,
    seed: int = 0,
    progress: bool = True,
    regimes: Sequence[str] = TEST_REGIMES,
    methods: Sequence[str] = METHODS,
) -> list[dict]:
    """Rows of ``COLUMNS``: one per task of ``regimes`` (of ``REGIMES``), method (of ``METHODS``) and number of
    adaptation episodes. ``baseline`` (fine-tuned as copies, so unchanged; needed for ``finetuned`` only)
    moves to the agent's device."""
    for name, chosen, accepted in (("regime", regimes, REGIMES), ("method", methods, METHODS)):
        unknown = [value for value in chosen if value not in accepted]
        if unknown or not chosen:
            raise ValueError(f"unknown or no {name}s {unknown}; accepted: {', '.join(accepted)}")
    if FINETUNED in methods and baseline is None:
        raise ValueError(f"the {FINETUNED} method needs the pretrained baseline")
    tasks = regime_tasks(config, regimes)
    task_list = [task for _, task in tasks]
    slots = range(len(tasks))
    eval_seeds, adapt_seeds = task_seeds(seed, len(tasks))
    points = sorted(set(config.adaptation_episodes))
    agent.generator.manual_seed(seed)
    modes = [mode for mode in MODES if mode in methods]
    finetuned_actors = {}  # the agent fine-tuned: the baseline, then the meta-trained agent
    if FINETUNED in methods:
        finetuned_actors[FINETUNED] = MetaRLAgent(baseline, agent.env, agent.settings, device=agent.device)
        finetuned_actors[FINETUNED].collector = agent.collector  # the same users' envs, built once
    if META_FINETUNED in methods:
        finetuned_actors[META_FINETUNED] = agent
    fresh = [agent.new_state() for _ in slots]

    def evaluate(actor: MetaRLAgent, states: list[TaskState], which: list[int]) -> np.ndarray:
        chosen = [task_list[i] for i in which]
        return greedy_returns(actor, chosen, states, [eval_seeds[i] for i in which], config.eval_episodes)

    def evaluate_finetuned(actor: MetaRLAgent, adaptation: Rollout, i: int) -> float:
        mine = adaptation.select(np.flatnonzero(adaptation.slot == i))
        tuned = actor.finetuned(mine, config.finetune_steps, config.finetune_lr)
        return evaluate(tuned, [tuned.new_state()], [i])[0]

    def adapted_returns(draw: int, ks: list[int], bar: tqdm) -> dict[tuple[str, int], np.ndarray]:
        """Each method's returns after ``k`` adaptation episodes (``k`` in ``ks``), episodes of draw ``draw``."""
        # adaptation episodes, one at a time so that the memory after k episodes can be kept
        states = [agent.new_state() for _ in slots]
        first = [s + draw * max(points) for s in adapt_seeds]
        episodes: list[Rollout] = []
        memories = {0: [s.memory for s in fresh]}
        for e in range(max(ks)):
            episode = agent.collect(task_list, states, seeds=[s + e for s in first], remember=True)
            episode.episode = episode.episode + e  # each task's e-th episode
            episodes.append(episode)
            memories[e + 1] = [copy.deepcopy(s.memory) for s in states]
        returns = {}
        for k in ks:
            adaptation = concat_rollouts(episodes[:k]) if k else None
            for mode in modes:
                adapted = agent.adapt_states(adaptation, [TaskState(m) for m in memories[k]], mode)
                returns[(mode, k)] = evaluate(agent, adapted, list(slots))
                bar.update()
            for method, actor in finetuned_actors.items():
                if adaptation is None:
                    returns[(method, k)] = evaluate(actor, fresh, list(slots))
                else:
                    returns[(method, k)] = np.array([evaluate_finetuned(actor, adaptation, i) for i in slots])
                bar.update()
        return returns

    # before adaptation (k = 0) every draw is the same; after it, the mean over the draws
    adapted_points = [k for k in points if k]
    draws = config.adaptation_draws if adapted_points else 1
    bar = tqdm(
        total=(len(points) + (draws - 1) * len(adapted_points)) * len(methods),
        desc="meta-test",
        disable=not progress,
    )
    returns: dict[tuple[str, int], np.ndarray] = {}
    for draw in range(draws):
        for (method, k), values in adapted_returns(draw, points if draw == 0 else adapted_points, bar).items():
            returns[(method, k)] = returns.get((method, k), 0) + (values / draws if k else values)
    bar.close()

    rows = []
    for (method, k), values in returns.items():
        for i, (regime, task) in enumerate(tasks):
            rows.append(
                {
                    "seed": seed,
                    "regime": regime,
                    "task": f"{task.domain}/{task.cohort}",
                    "method": method,
                    "episodes": k,
                    "return": float(values[i]),
                    "score": normalized_score(task, values[i]),
                }
            )
    return rows


def regime_tasks(config: MetaConfig, regimes: Sequence[str]) -> list[tuple[str, Task]]:
    """``(regime, task)`` for every task of ``regimes`` (of ``REGIMES``) that the meta-test of ``config`` uses."""
    splits = config.make_env().unwrapped.splits
    groups = {
        "held_out_cohorts": splits.test_cohorts,
        "held_out_domain": splits.test_domain[: config.test_domain_tasks],
        "validation_cohorts": splits.validation,
    }
    return [(regime, task) for regime in regimes for task in groups[regime]]


def choose_adaptation(
    agent: MetaRLAgent,
    config: MetaConfig,
    seed: int,
    candidates: Sequence[tuple[int, float]],
    progress: bool = True,
) -> tuple[tuple[int, float], dict[tuple[int, float], float]]:
    """The test-time Meta-SGD setting among ``candidates`` (inner steps, learning-rate scale: as
    ``MetaRLAgent.with_adaptation`` takes them) under which the ``gradient`` mode scores highest on the
    validation cohorts after the config's largest number of adaptation episodes (mean over the tasks; ties:
    the first), and every candidate's score. The held-out tasks play no part in the choice."""
    if not candidates:
        raise ValueError("no candidate test-time settings to choose from")
    validation = dataclasses.replace(config, adaptation_episodes=(max(config.adaptation_episodes),))
    scores = {}
    for steps, scale in candidates:
        adapting = agent.with_adaptation(int(steps), float(scale))
        rows = meta_test(adapting, None, validation, seed, progress, ("validation_cohorts",), ("gradient",))
        scores[(steps, scale)] = float(np.mean([r["score"] for r in rows]))
    return max(scores, key=scores.__getitem__), scores


def task_seeds(seed: int, count: int) -> tuple[list[int], list[int]]:
    """The first episode seeds of ``count`` held-out tasks in the meta-test of run ``seed``: for the
    evaluation episodes and for the adaptation episodes (the next episodes take the next seeds)."""
    return (
        [1_000_000 + 100_000 * seed + TASK_SEED_STRIDE * i for i in range(count)],
        [2_000_000 + 100_000 * seed + TASK_SEED_STRIDE * i for i in range(count)],
    )


def greedy_returns(
    actor: MetaRLAgent, tasks: list[Task], states: list[TaskState], seeds: list[int], episodes: int
) -> np.ndarray:
    """The mean return of greedy episodes of ``episodes`` users of each ``tasks[i]`` (with ``states[i]``, the users
    seeded ``seeds[i]``: every actor meets the same users), all stepped together."""
    rollout = actor.collect(tasks, states, users=episodes, seeds=seeds, deterministic=True, remember=False)
    totals = rollout.returns_per_episode()
    return np.array([np.mean([totals[(j, e)] for e in range(episodes)]) for j in range(len(tasks))])


def write_rows(rows: list[dict], path: str | Path) -> None:
    """Write ``rows`` to the CSV ``path`` atomically: the old file or the new one, never half of either."""
    with atomic_file(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def curve_table(rows: list[dict], value: str = "score") -> str:
    """Markdown: per regime and method, the mean ``value`` [95 % CI over task x seed pairs] at each point."""
    points = sorted({r["episodes"] for r in rows})
    lines = [
        "| regime | method | " + " | ".join(f"{k} episodes" for k in points) + " |",
        "|---|---|" + "---:|" * len(points),
    ]
    for regime in dict.fromkeys(r["regime"] for r in rows):
        for method in dict.fromkeys(r["method"] for r in rows):
            cells = []
            for k in points:
                values = [r[value] for r in rows if (r["regime"], r["method"], r["episodes"]) == (regime, method, k)]
                mean, low, high = mean_ci(np.array(values))
                cells.append(f"{mean:.3f} [{low:.3f}, {high:.3f}]")
            lines.append(f"| {regime} | {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def paired_differences(rows: list[dict], reference: str = FINETUNED, value: str = "score") -> dict[tuple, float]:
    """``(regime, method, episodes, task, seed)``: ``value`` minus the ``reference`` method's on the same task,
    seed and point (the same users), for every method but the reference, regime by regime; empty without the
    reference's rows (a meta-test of other methods only)."""
    if not any(r["method"] == reference for r in rows):
        return {}
    return _differences(rows, value, lambda key: (key[0], reference, *key[2:]))


def adaptation_gains(rows: list[dict], value: str = "score") -> dict[tuple, float]:
    """``(regime, method, episodes, task, seed)``: ``value`` after ``episodes`` > 0 adaptation episodes minus
    the same method's before adaptation (0 episodes) on the same task and seed (the same users); empty
    without a point at 0 episodes."""
    if all(r["episodes"] for r in rows):
        return {}
    return _differences(rows, value, lambda key: (*key[:2], 0, *key[3:]))


def _differences(rows: list[dict], value: str, reference: Callable[[tuple], tuple]) -> dict[tuple, float]:
    """``(regime, method, episodes, task, seed)``: ``value`` minus that of the row ``reference(key)`` names,
    for every row that is not its own reference, regime by regime."""
    keyed = {(r["regime"], r["method"], r["episodes"], r["task"], r["seed"]): r[value] for r in rows}
    return {
        key: score - keyed[reference(key)]
        for regime in dict.fromkeys(r["regime"] for r in rows)
        for key, score in keyed.items()
        if key[0] == regime and reference(key) != key
    }


def difference_table(differences: dict[tuple, float], label: str) -> str:
    """Markdown: per regime, method and point, the mean of ``differences`` (``paired_differences`` or
    ``adaptation_gains``) [95 % CI over task x seed pairs] and the share of pairs above zero."""
    points = sorted({key[2] for key in differences})
    lines = [
        "| regime | method | " + " | ".join(f"{k} episodes: {label} (ahead)" for k in points) + " |",
        "|---|---|" + "---:|" * len(points),
    ]
    for regime, method in dict.fromkeys(key[:2] for key in differences):
        cells = []
        for k in points:
            mine = np.array([d for key, d in differences.items() if key[:3] == (regime, method, k)])
            mean, low, high = mean_ci(mine)
            cells.append(f"{mean:+.3f} [{low:+.3f}, {high:+.3f}] ({np.mean(mine > 0):.0%})")
        lines.append(f"| {regime} | {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def seed_difference_table(differences: dict[tuple, float]) -> str:
    """Markdown: per regime and method, the mean of ``differences`` at the last point in each seed (how much
    of the spread lies between meta-training runs), their mean, the number of seeds above zero and the
    one-sided ``sign_flip_p`` over the seed means: the test that treats a meta-training run as the unit."""
    last, seeds = max(key[2] for key in differences), sorted({key[4] for key in differences})
    lines = [
        "| regime | method | " + " | ".join(f"seed {s}" for s in seeds) + " | mean | seeds ahead | p (sign flip) |",
        "|---|---|" + "---:|" * (len(seeds) + 3),
    ]
    for regime, method in dict.fromkeys(key[:2] for key in differences):
        means = np.array(
            [
                np.mean([d for key, d in differences.items() if key[:3] == (regime, method, last) and key[4] == seed])
                for seed in seeds
            ]
        )
        cells = [f"{m:+.3f}" for m in means] + [f"{means.mean():+.3f}", f"{np.sum(means > 0)}/{len(seeds)}"]
        lines.append(f"| {regime} | {method} | " + " | ".join(cells) + f" | {sign_flip_p(means):.3f} |")
    return "\n".join(lines)


def read_rows(path: str | Path) -> list[dict]:
    """Rows ``write_rows`` wrote, with numbers as numbers."""
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    for row in rows:
        for name in ("seed", "episodes"):
            row[name] = int(row[name])
        for name in ("return", "score"):
            row[name] = float(row[name])
    return rows


def plot_curves(rows: list[dict], path: str | Path, value: str = "score") -> None:
    """A PNG with one panel per regime: mean ``value`` against adaptation episodes per method, 95 % CI bands."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    regimes = list(dict.fromkeys(r["regime"] for r in rows))
    figure, axes = plt.subplots(1, len(regimes), figsize=(5 * len(regimes), 3.8), squeeze=False)
    for axis, regime in zip(axes[0], regimes, strict=True):
        for method in dict.fromkeys(r["method"] for r in rows):
            points = sorted({r["episodes"] for r in rows if r["regime"] == regime and r["method"] == method})
            stats = [
                mean_ci(
                    np.array(
                        [r[value] for r in rows if (r["regime"], r["method"], r["episodes"]) == (regime, method, k)]
                    )
                )
                for k in points
            ]
            line = axis.plot(points, [s[0] for s in stats], marker="o", label=method)[0]
            axis.fill_between(points, [s[1] for s in stats], [s[2] for s in stats], alpha=0.15, color=line.get_color())
        axis.set(title=regime.replace("_", " "), xlabel="adaptation episodes", ylabel=value.replace("_", " "))
        axis.grid(alpha=0.3)
    axes[0][0].legend()
    figure.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
