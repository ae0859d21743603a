"""``MultiDomainEnv``: a new task (domain + cohort) every episode, all domains in one observation layout."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from recsim_meta.envs.domains import DOMAINS, DomainConfig
from recsim_meta.envs.rec_env import RecEnv, action_space, observation_space, task_option
from recsim_meta.sim.tasks import Task, TaskSplits, make_splits
from recsim_meta.sim.validation import check_choice, shown

# every domain is built with these sizes so that one action space and one layout fit all
SHARED_SIZES = {"num_candidates": 20, "slate_size": 3, "history_length": 10}
SPLITS = ("train", "validation", "test_cohorts", "test_domain")
COMMON_INFO = ("clicked", "position", "item")  # the info keys of every domain; with hide_domain the only ones


def _union(name_lists: list[tuple[str, ...]]) -> tuple[str, ...]:
    """Names in order of first appearance."""
    return tuple(dict.fromkeys(name for names in name_lists for name in names))


class MultiDomainEnv(gym.Env):
    """``recsim_meta/MultiDomain-v0``: every episode a task (domain + cohort) from a split of the six domains.

    ## Description
    The meta-RL training env. ``reset`` draws a task uniformly from the chosen split of
    ``make_splits(domains, held_out_domain=..., num_cohorts=..., seed=task_seed)`` (by default the
    training tasks: seen domains, training cohorts) and runs one session of that domain's env; the
    draw uses the env's seed, so ``reset(seed=s)`` always gives the same task. Pass
    ``reset(options={"task": task})`` to run a given task instead (meta-test on held-out tasks).
    Every domain is built with 20 candidates, slates of 3 and a history of 10, and its observation is
    padded into one layout shared by all domains.

    ## Action Space
    ``MultiDiscrete([20] * 3)`` (``Discrete(20)`` with ``slate_size=1``): candidate positions, as in
    every domain env; a repeated position is an empty slot; invalid actions raise ``ValueError`` and
    change nothing.

    ## Observation Space
    The domain envs' flat ``Dict``, padded, plus a domain indicator. ``F`` is the number of feature
    columns over all domains (``env.unwrapped.feature_names``: topic one-hot, log popularity, then
    every domain's attributes by name, e.g. ``price``, ``length``, ``age``, ``risk``, and
    ``friends_engaged``); a column a domain does not have is 0. ``U`` likewise for user features
    (session statistics, then ``skill``, ``risk_tolerance``).

    | key | shape | dtype | content |
    |---|---|---|---|
    | ``candidate_ids`` | (20,) | int64 | item ids of the current domain's catalogue |
    | ``candidate_features`` | (20 * F,) | float32 | the domain's features in the shared columns |
    | ``history_ids`` | (10,) | int64 | last interactions, -1 where empty |
    | ``history_responses`` | (30,) | float32 | clicked, reward, engagement |
    | ``user_features`` | (U,) | float32 | the domain's user features in the shared columns |
    | ``domain`` | (D,) | float32 | one-hot domain indicator (order of ``env.unwrapped.domains``); all zeros with ``hide_domain=True`` |

    ## Rewards
    The current domain's reward (revenue, dwell, watch time, engagement, play time, risk-adjusted
    return): scales differ by domain. ``info`` has the domain env's info plus ``task`` (reset) and
    ``domain``; with ``hide_domain=True`` only ``clicked``, ``position`` and ``item``, and reset's is empty.

    ## Episode End
    The current domain's: ``terminated`` when the session ends, ``truncated`` after 100 steps.

    ## Arguments
    ``gym.make("recsim_meta/MultiDomain-v0", split="train", held_out_domain=None, num_cohorts=10,
    num_validation=2, num_test=2, task_seed=0, num_variants=0, hide_domain=False, any_task=False,
    domains=DOMAINS, render_mode=None, **overrides)``. ``split`` is one of ``train``, ``validation``, ``test_cohorts``,
    ``test_domain`` (the held-out domain's cohorts, needs ``held_out_domain``); ``num_variants`` adds
    that many procedural variants of each seen domain to the training tasks (``make_splits``; a variant
    shows its domain's indicator and items, and differs in how users behave); ``hide_domain=True`` zeroes the
    indicator and keeps the domain and the task out of ``info`` (the domain's own signals too), so the agent
    must infer the task from how users respond (the layout's columns a domain does not fill stay 0, which
    still hints at it); ``reset(options={"task": task})`` accepts the split's tasks only, any task of the
    domains with ``any_task=True`` (a meta-test on held-out tasks); ``overrides`` (any ``DomainConfig``
    field) apply to every domain. Bad values raise ``ValueError`` naming them.

    ## Version History
    * v0: initial release.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(
        self,
        split: str = "train",
        held_out_domain: str | None = None,
        num_cohorts: int = 10,
        num_validation: int = 2,
        num_test: int = 2,
        task_seed: int = 0,
        num_variants: int = 0,
        hide_domain: bool = False,
        any_task: bool = False,
        domains: tuple[str, ...] = DOMAINS,
        render_mode: str | None = None,
        **overrides: Any,
    ) -> None:
        check_choice("split", split, SPLITS)
        if isinstance(domains, str) or not isinstance(domains, (tuple, list)) or not domains:
            raise ValueError(
                f"domains must be a non-empty tuple of domain names ({', '.join(DOMAINS)}), got {shown(domains)}"
            )
        for domain in domains:
            check_choice("domain", domain, DOMAINS)
        self.domains = tuple(domains)
        self.splits: TaskSplits = make_splits(
            self.domains,
            held_out_domain=held_out_domain,
            num_cohorts=num_cohorts,
            num_validation=num_validation,
            num_test=num_test,
            num_variants=num_variants,
            seed=task_seed,
        )
        self.tasks: tuple[Task, ...] = getattr(self.splits, split)
        if not self.tasks:
            raise ValueError(f"split {split!r} has no tasks (test_domain needs a held_out_domain)")
        for name, flag in (("hide_domain", hide_domain), ("any_task", any_task)):
            if not isinstance(flag, (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False, got {flag!r}")
        self.split = split
        self.hide_domain = bool(hide_domain)
        self.any_task = bool(any_task)
        self.render_mode = render_mode
        self.envs = {d: RecEnv(d, render_mode, **{**SHARED_SIZES, **overrides}) for d in self.domains}
        configs = [env.config for env in self.envs.values()]
        self.feature_names = _union([env.feature_names for env in self.envs.values()])
        self.user_feature_names = _union([env.user_feature_names for env in self.envs.values()])
        self._columns = {d: self._positions(env.feature_names, self.feature_names) for d, env in self.envs.items()}
        self._user_columns = {
            d: self._positions(env.user_feature_names, self.user_feature_names) for d, env in self.envs.items()
        }
        self.observation_space = self._padded_space(configs)
        self.action_space = action_space(configs[0])
        self.env: RecEnv = self.envs[self.tasks[0].domain]

    @staticmethod
    def _positions(names: tuple[str, ...], union: tuple[str, ...]) -> np.ndarray:
        return np.array([union.index(name) for name in names], dtype=np.int64)

    def _padded_space(self, configs: list[DomainConfig]) -> spaces.Dict:
        largest = max(configs, key=lambda c: c.num_items)
        base = observation_space(largest)
        m, f, u = largest.num_candidates, len(self.feature_names), len(self.user_feature_names)
        features, user = base["candidate_features"], base["user_features"]
        return spaces.Dict(
            {
                "candidate_ids": base["candidate_ids"],
                "candidate_features": spaces.Box(features.low.min(), features.high.max(), (m * f,), np.float32),
                "history_ids": base["history_ids"],
                "history_responses": base["history_responses"],
                "user_features": spaces.Box(user.low.min(), user.high.max(), (u,), np.float32),
                "domain": spaces.Box(0.0, 1.0, (len(self.domains),), np.float32),
            }
        )

    # ----------------------------------------------------------------- gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        task = self.task_option(options)  # checked first: a bad option changes nothing
        super().reset(seed=seed)
        if task is None:
            task = self.tasks[int(self.np_random.integers(len(self.tasks)))]
        self.env = self.envs[task.domain]
        observation, info = self.env.reset(seed=int(self.np_random.integers(2**31)), options={"task": task})
        return self._pad(observation), ({} if self.hide_domain else {**info, "domain": task.domain})

    def step(self, action: Any) -> tuple[dict, float, bool, bool, dict]:
        observation, reward, terminated, truncated, info = self.env.step(action)
        if self.hide_domain:
            info = {key: info[key] for key in COMMON_INFO}
        else:
            info = {**info, "domain": self.domain}
        return self._pad(observation), reward, terminated, truncated, info

    def task_option(self, options: dict[str, Any] | None) -> Task | None:
        """The task in ``reset`` options (None when absent): one of the split's, or of the domains' with ``any_task``."""
        task = task_option(options, self.domains)
        if task is not None and not self.any_task and task not in self.tasks:
            raise ValueError(
                f"task {task} is not one of this env's {self.split!r} tasks; make the env with any_task=True "
                "to run any task of its domains"
            )
        return task

    def render(self) -> str | np.ndarray | None:
        return self.env.render()

    def _pad(self, observation: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {
            key: value[0]
            for key, value in self.padded({k: v[None] for k, v in observation.items()}, self.domain).items()
        }

    def padded(self, observations: dict[str, np.ndarray], domain: str) -> dict[str, np.ndarray]:
        """Batched observations ``(B, ...)`` of ``domain``'s env in this env's layout (see the class docstring)."""
        num_users, num_candidates = len(observations["candidate_ids"]), self.envs[domain].config.num_candidates
        features = np.zeros((num_users, num_candidates, len(self.feature_names)), dtype=np.float32)
        features[:, :, self._columns[domain]] = observations["candidate_features"].reshape(
            num_users, num_candidates, -1
        )
        user = np.zeros((num_users, len(self.user_feature_names)), dtype=np.float32)
        user[:, self._user_columns[domain]] = observations["user_features"]
        indicator = np.zeros((num_users, len(self.domains)), dtype=np.float32)
        if not self.hide_domain:
            indicator[:, self.domains.index(domain)] = 1.0
        return {
            **observations,
            "candidate_features": features.reshape(num_users, -1),
            "user_features": user,
            "domain": indicator,
        }

    # ----------------------------------------------------------------- the current domain's env
    @property
    def domain(self) -> str:
        return self.env.config.name

    @property
    def task(self) -> Task:
        return self.env.task

    @property
    def config(self) -> DomainConfig:
        return self.env.config

    @property
    def sessions(self):
        return self.env.sessions

    @property
    def world(self):
        """The current task's ``World`` (ground truth, for oracles)."""
        return self.env.world

    def oracle_slate(self, objective: str = "reward", kg_aware: bool = True) -> np.ndarray | int:
        """The current domain's myopic oracle (see ``RecEnv.oracle_slate``)."""
        return self.env.oracle_slate(objective, kg_aware)

    def kg_edges(self) -> np.ndarray:
        return self.env.kg_edges()

    @property
    def kg_relations(self) -> tuple[str, ...]:
        return self.env.kg_relations

    @property
    def knowledge_graph(self):
        return self.env.knowledge_graph

    @property
    def catalog(self):
        return self.env.catalog
