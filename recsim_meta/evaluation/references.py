"""Reference scores: the returns of random, popularity, the myopic oracle and the planning oracle in every env
id's default task and every task of the default splits, and ``normalized_score`` on their scale.

As D4RL's ``get_normalized_score``, ``normalized_score(env_id or task, returns)`` is
``(R - R_random) / (R_planning - R_random)``: 0 is the random policy, 1 the planning oracle (the best policy
here, which maximises the session's return with the true latent state). The myopic oracle's score shows per
env how much the long horizon is worth.

The scores ship with the package (``recsim_meta/data/reference_scores.json``), computed by one command::

    recsim-meta reference-scores --workers 2

Each entry holds the mean return [95 % CI] of each reference policy over ``EPISODES`` users of the task (one
episode each, stepped together in the native vector env, the same users for every policy) and the planning
oracle's budget price, chosen by a search on other users (``choose_price``). The entries: every registered
id's default task (``MultiDomain-v0``: its training tasks, each with its own price, averaged), and every
cohort of ``make_splits``' default tasks (10 cohorts of each domain, seed 0; the tasks the meta-test and the
benchmark use) in ``MultiDomain-v0``'s layout, with slates of 3 and of 1 (the benchmark's DQN). A key that
is not in the file is computed on first use, by the same procedure, and kept for the process.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from recsim_meta.agents.baselines import OraclePolicy, PopularityPolicy, RandomPolicy
from recsim_meta.agents.planning import PlanningOracle
from recsim_meta.atomic_files import atomic_file
from recsim_meta.envs import DOMAINS, MULTI_DOMAIN_ID, PRESETS, RecVectorEnv
from recsim_meta.envs.domains import config_overrides
from recsim_meta.envs.multi_domain import SHARED_SIZES
from recsim_meta.evaluation.parallel import parallel_map
from recsim_meta.evaluation.rollout import mean_ci, run_users
from recsim_meta.sim.tasks import Task, make_splits, sample_tasks

POLICIES = ("random", "popularity", "oracle", "planning")
"""The reference policies; ``oracle`` is the myopic one."""
EPISODES = 200
"""Users (one episode each) per reference run."""
REFERENCE_SEED = 0
"""Seed of the reference runs' users (and of the random policy)."""
SEARCH_SEED = 5_000
"""Seed of the validation users the planning price is chosen on: other users than the reference runs'."""
SEARCH_EPISODES = 100
PRICE_FACTORS = (0.0, *(2.0**power for power in np.arange(-4.0, 2.5, 0.5)))
"""The prices searched, in units of the myopic oracle's return per unit of the starting budget."""
DATA_FILE = Path(__file__).resolve().parents[1] / "data" / "reference_scores.json"
ENV_PRESETS = {preset.env_id: name for name, preset in PRESETS.items()}
"""Each single-domain env id's preset name."""


@dataclasses.dataclass(frozen=True)
class Reference:
    """The reference scores of one env id and task.

    Attributes:
        env_id: the env id whose layout the task runs in (``MultiDomain-v0`` for the meta-RL tasks).
        task: the task, or ``None`` for the env id's default (``MultiDomain-v0``: its training tasks).
        overrides: ``DomainConfig`` fields changed from the env id's (e.g. ``slate_size``), sorted pairs.
        price: the planning oracle's budget price (``None`` for a mixture of tasks, which have their own).
        episodes: episodes per policy.
        scores: per policy of ``POLICIES``, the mean return and its 95 % CI ``(mean, low, high)``.
    """

    env_id: str
    task: Task | None
    overrides: tuple[tuple[str, Any], ...]
    price: float | None
    episodes: int
    scores: dict[str, tuple[float, float, float]]

    @property
    def key(self) -> tuple[str, Task | None, tuple[tuple[str, Any], ...]]:
        return self.env_id, self.task, self.overrides

    def to_json(self) -> dict[str, Any]:
        return {
            "env_id": self.env_id,
            "task": None if self.task is None else dataclasses.asdict(self.task),
            "overrides": dict(self.overrides),
            "price": self.price,
            "episodes": self.episodes,
            "scores": {
                name: dict(zip(("mean", "low", "high"), values, strict=True)) for name, values in self.scores.items()
            },
        }

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> Reference:
        return cls(
            env_id=entry["env_id"],
            task=None if entry["task"] is None else Task(**entry["task"]),
            overrides=tuple(sorted(entry["overrides"].items())),
            price=entry["price"],
            episodes=entry["episodes"],
            scores={name: (v["mean"], v["low"], v["high"]) for name, v in entry["scores"].items()},
        )


def reference_key(env: str | Task, overrides: dict[str, Any] | None = None) -> tuple:
    """The key of ``env`` (an env id, for its default task, or a ``Task``, in ``MultiDomain-v0``'s layout, where
    the meta-test and the benchmark run tasks) with ``overrides``; a ``Task`` of another env id is
    ``(env_id, task)``."""
    if isinstance(env, tuple) and len(env) == 2:
        env_id, task = env
    elif isinstance(env, Task):
        env_id, task = MULTI_DOMAIN_ID, env
    else:
        env_id, task = env, None
    accepted = (*ENV_PRESETS, MULTI_DOMAIN_ID)
    if env_id not in accepted:
        raise ValueError(f"no reference scores for {env!r}: give an env id ({', '.join(accepted)}) or a Task")
    if task is not None and not isinstance(task, Task):
        raise ValueError(f"the task of a reference key must be a recsim_meta Task, got {type(task).__name__}")
    if task is not None and env_id in ENV_PRESETS and task.domain != PRESETS[ENV_PRESETS[env_id]].name:
        raise ValueError(f"task of domain {task.domain!r} does not run in {env_id}")
    return env_id, task, tuple(sorted((overrides or {}).items()))


@functools.cache
def shipped_references() -> dict[tuple, Reference]:
    """The references in the package's data file, by key (empty when the file is missing)."""
    if not DATA_FILE.is_file():
        return {}
    entries = json.loads(DATA_FILE.read_text())["references"]
    return {reference.key: reference for reference in map(Reference.from_json, entries)}


_COMPUTED: dict[tuple, Reference] = {}


def reference(env: str | Task, overrides: dict[str, Any] | None = None) -> Reference:
    """The reference scores of ``env`` (``reference_key``): shipped, or computed now (and kept for the process)."""
    key = reference_key(env, overrides)
    found = shipped_references().get(key) or _COMPUTED.get(key)
    if found is None:
        warnings.warn(
            f"no shipped reference scores for {key}; computing them now ({EPISODES} episodes per policy)",
            stacklevel=2,
        )
        found = _COMPUTED[key] = compute_reference(*key)
    return found


def normalized_score(env: str | Task, returns: float | np.ndarray, overrides: dict[str, Any] | None = None):
    """``(R - R_random) / (R_planning - R_random)`` of ``returns`` (a number or an array) in ``env`` (an env id for
    its default task, or a ``Task`` in ``MultiDomain-v0``'s layout), as D4RL's ``get_normalized_score``."""
    scores = reference(env, overrides).scores
    low, high = scores["random"][0], scores["planning"][0]
    normalized = (np.asarray(returns, dtype=np.float64) - low) / (high - low)
    return float(normalized) if normalized.ndim == 0 else normalized


def planning_price(env: str | Task, overrides: dict[str, Any] | None = None) -> float:
    """The planning oracle's budget price in ``env``'s task (``reference_key``)."""
    price = reference(env, overrides).price
    if price is None:
        raise ValueError(f"{env!r} is a mixture of tasks: each has its own price; give one task")
    return price


def reference_policy(name: str, env: Any, seed: int | None, key: str | Task | None = None, overrides=None):
    """The reference policy ``name`` (``POLICIES``, and ``kg_blind_oracle``, ``click_chaser``) acting in ``env``;
    the planning oracle's price is that of ``key`` (with ``overrides``), or of the task the env runs at each
    step when ``key`` is ``None`` (``MultiDomain-v0`` changes task every episode)."""
    from recsim_meta.agents.baselines import BASELINES

    if name != "planning":
        if name not in BASELINES:
            raise ValueError(f"unknown reference policy {name!r}; accepted: {', '.join([*BASELINES, 'planning'])}")
        return BASELINES[name](env, seed)
    if key is not None:
        return PlanningOracle(env, planning_price(key, overrides))
    layout = MULTI_DOMAIN_ID if hasattr(env.unwrapped, "domains") else env.unwrapped.config.env_id
    return PlanningOracle(env, lambda task: planning_price((layout, task), overrides))


# --------------------------------------------------------------------------- computing them
def task_envs(env_id: str, task: Task | None, overrides: tuple, users: int) -> tuple[RecVectorEnv, dict[str, Task]]:
    """``users`` users of one task of ``env_id`` in the native vector env, and the reset options that set it."""
    overrides = dict(overrides)
    if env_id == MULTI_DOMAIN_ID:
        envs = RecVectorEnv(users, task.domain, **{**SHARED_SIZES, **overrides})
    else:
        envs = RecVectorEnv(users, ENV_PRESETS[env_id], **overrides)
        task = task or Task(domain=envs.config.name)
    return envs, {"task": task}


def choose_price(envs: RecVectorEnv, options: dict[str, Task]) -> float:
    """The budget price (of ``PRICE_FACTORS`` times the myopic oracle's return per unit of starting budget) under
    which the planning oracle earns the most on ``SEARCH_EPISODES`` validation users; 0 when none beats the
    myopic oracle (ties: the lower price)."""
    validation = RecVectorEnv(SEARCH_EPISODES, envs.config.name, **config_overrides(envs.config))
    myopic = run_users(validation, OraclePolicy(validation), SEARCH_SEED, options).returns.mean()
    unit = max(abs(myopic), 1e-6) / envs.config.time_budget
    best_price, best = 0.0, myopic
    for factor in PRICE_FACTORS[1:]:
        mean = run_users(validation, PlanningOracle(validation, factor * unit), SEARCH_SEED, options).returns.mean()
        if mean > best:
            best_price, best = factor * unit, mean
    return float(best_price)


def compute_reference(
    env_id: str, task: Task | None = None, overrides: tuple = (), episodes: int = EPISODES
) -> Reference:
    """The reference scores of one key (``reference_key``), by the procedure the shipped ones were made with."""
    if env_id == MULTI_DOMAIN_ID and task is None:
        return _mixture(overrides, episodes)
    envs, options = task_envs(env_id, task, overrides, episodes)
    price = choose_price(envs, options)
    policies = {
        "random": RandomPolicy(envs, REFERENCE_SEED),
        "popularity": PopularityPolicy(envs),
        "oracle": OraclePolicy(envs),
        "planning": PlanningOracle(envs, price),
    }
    scores = {
        name: mean_ci(run_users(envs, policy, REFERENCE_SEED, options).returns) for name, policy in policies.items()
    }
    return Reference(env_id, task, tuple(overrides), price, episodes, scores)


def _mixture(overrides: tuple, episodes: int) -> Reference:
    """``MultiDomain-v0``'s default: the mean over its training tasks (drawn uniformly per episode), each task's
    interval half-width combined as independent errors."""
    tasks = make_splits(DOMAINS).train
    parts = [reference((MULTI_DOMAIN_ID, task), dict(overrides)) for task in tasks]
    scores = {}
    for name in POLICIES:
        means = np.array([part.scores[name][0] for part in parts])
        halves = np.array([(part.scores[name][2] - part.scores[name][1]) / 2 for part in parts])
        half = float(np.sqrt((halves**2).sum()) / len(parts))
        scores[name] = (float(means.mean()), float(means.mean()) - half, float(means.mean()) + half)
    return Reference(MULTI_DOMAIN_ID, None, tuple(overrides), None, episodes * len(parts), scores)


def standard_keys() -> list[tuple]:
    """The keys the data file holds: every single-domain id's default task, every cohort of the default splits
    in ``MultiDomain-v0``'s layout with slates of 3 and of 1, and ``MultiDomain-v0``'s default (last: it is
    made of its training tasks' entries)."""
    keys = [reference_key(env_id) for env_id in ENV_PRESETS]
    for slates in ({}, {"slate_size": 1}):
        keys += [reference_key(task, slates) for domain in DOMAINS for task in sample_tasks(domain, 10, 0)]
    return keys + [reference_key(MULTI_DOMAIN_ID)]


def _compute(key: tuple) -> tuple[Reference, float]:
    start = time.perf_counter()
    return compute_reference(*key), time.perf_counter() - start


def write_references(path: str | Path = DATA_FILE, workers: int = 1, keys: Iterable[tuple] | None = None) -> Path:
    """Compute the references of ``keys`` (default ``standard_keys``) in ``workers`` processes and write them to
    ``path`` (JSON, atomically); returns the path."""
    keys = list(keys or standard_keys())
    mixtures = [key for key in keys if key[0] == MULTI_DOMAIN_ID and key[1] is None]
    computed: dict[tuple, Reference] = {}
    seconds = 0.0
    for key, (found, spent) in parallel_map(
        _compute, [k for k in keys if k not in mixtures], workers, True, "reference scores"
    ):
        computed[key], seconds = found, seconds + spent
    _COMPUTED.update(computed)  # the mixtures are made of their tasks' entries
    for key in mixtures:
        computed[key] = compute_reference(*key)
    document = {
        "description": "Mean return [95 % CI] of the reference policies; recsim-meta reference-scores makes it.",
        "episodes": EPISODES,
        "reference_seed": REFERENCE_SEED,
        "search_seed": SEARCH_SEED,
        "references": [computed[key].to_json() for key in keys],
    }
    with atomic_file(path, "w") as file:
        json.dump(document, file, indent=1)
        file.write("\n")
    shipped_references.cache_clear()
    print(f"{len(keys)} references in {seconds:.0f} s of computing, written to {path}")
    return Path(path)


def reference_table(env_ids: Iterable[str] | None = None) -> str:
    """Markdown: each env id's default task, the mean return [95 % CI] of every reference policy, the
    planning oracle's price and the myopic oracle's normalised score."""
    lines = [
        "| env id | random | popularity | myopic oracle | planning oracle | myopic oracle's score | price |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for env_id in env_ids or (*ENV_PRESETS, MULTI_DOMAIN_ID):
        found = reference(env_id)
        cells = [f"{m:.1f} [{low:.1f}, {high:.1f}]" for m, low, high in (found.scores[p] for p in POLICIES)]
        price = "per task" if found.price is None else f"{found.price:.3g}"
        score = normalized_score(env_id, found.scores["oracle"][0])
        lines.append(f"| `{env_id}` | " + " | ".join(cells) + f" | {score:.2f} | {price} |")
    return "\n".join(lines)
