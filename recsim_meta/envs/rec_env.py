"""``RecEnv``: one Gymnasium environment class for every recommendation domain."""

from __future__ import annotations

import textwrap
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from recsim_meta.envs.domains import PRESETS, DomainConfig, make_config
from recsim_meta.envs.rendering import render_session
from recsim_meta.envs.world import (
    FEATURE_CLIP,
    RESPONSE_COLUMNS,
    Sessions,
    feature_names,
    user_feature_names,
    world_for,
)
from recsim_meta.sim.kernels import all_within
from recsim_meta.sim.tasks import Task
from recsim_meta.sim.validation import NON_NEGATIVE, check_choice, check_integer, shown

_FLOAT_MAX = float(np.finfo(np.float32).max)  # finite bounds for unbounded signals (rewards, time)


def observation_space(config: DomainConfig) -> spaces.Dict:
    """The flat ``Dict`` of ``Box`` observations of a domain (see ``describe``)."""
    n, m, h = config.num_items, config.num_candidates, config.history_length
    num_features, num_user_features = len(feature_names(config)), len(user_feature_names(config))
    return spaces.Dict(
        {
            "candidate_ids": spaces.Box(0, n - 1, (m,), np.int64),
            "candidate_features": spaces.Box(-FEATURE_CLIP, FEATURE_CLIP, (m * num_features,), np.float32),
            "history_ids": spaces.Box(-1, n - 1, (h,), np.int64),
            "history_responses": spaces.Box(-_FLOAT_MAX, _FLOAT_MAX, (h * len(RESPONSE_COLUMNS),), np.float32),
            "user_features": spaces.Box(-_FLOAT_MAX, _FLOAT_MAX, (num_user_features,), np.float32),
        }
    )


def action_space(config: DomainConfig) -> spaces.Discrete | spaces.MultiDiscrete:
    """``Discrete(M)`` for single-item recommendation, ``MultiDiscrete([M] * K)`` for slates."""
    if config.slate_size == 1:
        return spaces.Discrete(config.num_candidates)
    return spaces.MultiDiscrete([config.num_candidates] * config.slate_size)


def validate_action(action: Any, config: DomainConfig, num_envs: int | None = None) -> np.ndarray:
    """The action as a ``(K,)`` int64 array of candidate positions (``(B, K)`` for ``num_envs=B``).

    Raises:
        ValueError: naming the problem (dtype, shape or range) and what is accepted.
    """
    m, k = config.num_candidates, config.slate_size
    batch = () if num_envs is None else (num_envs,)
    try:
        array = np.asarray(action)
    except ValueError as error:
        raise _invalid_action(action, str(error), m, k, num_envs) from None
    if array.dtype.kind not in "iu":  # numpy's signed and unsigned integers (not bool)
        raise _invalid_action(action, f"dtype {array.dtype} is not an integer type", m, k, num_envs)
    if k == 1 and array.shape in (batch, batch + (1,)):
        array = array.reshape(batch + (1,))
    if array.shape != batch + (k,):
        raise _invalid_action(action, f"shape {array.shape}", m, k, num_envs)
    slate = array.astype(np.int64)  # an unsigned value above int64's range turns negative: out of range
    if not all_within(slate, m):
        raise _invalid_action(action, "value out of range", m, k, num_envs)
    return slate


def _invalid_action(action: Any, problem: str, m: int, k: int, num_envs: int | None) -> ValueError:
    if k > 1:
        shape = (k,) if num_envs is None else (num_envs, k)
        expected = f"an integer array of shape {shape} with values in [0, M)"
    elif num_envs is None:
        expected = "an integer in [0, M)"
    else:
        expected = f"an integer array of shape ({num_envs},) in [0, M)"
    return ValueError(f"invalid action {shown(action)}: {problem}; expected {expected}, M={m}")


def task_option(options: dict[str, Any] | None, domains: tuple[str, ...]) -> Task | None:
    """The task in ``reset`` options (None when absent), checked against the env's ``domains``."""
    if options is not None and not isinstance(options, dict):
        raise ValueError(f"reset options must be a dict (or None), got {shown(options)}; accepted keys: task")
    options = options or {}
    unknown = set(options) - {"task"}
    if unknown:
        raise ValueError(f"unknown reset option(s) {sorted(unknown)}; accepted: task")
    task = options.get("task")
    if task is None:
        return None
    if not isinstance(task, Task):
        raise ValueError(f"options['task'] must be a recsim_meta Task, got {type(task).__name__}")
    if task.domain not in domains:
        raise ValueError(f"task domain {task.domain!r} does not match this env's domain(s): {', '.join(domains)}")
    return task


def reset_seed(seed: Any) -> int | None:
    """``reset``'s seed as Gymnasium takes it: None, or a non-negative Python or numpy integer (as a Python int)."""
    return None if seed is None else check_integer("seed", seed, NON_NEGATIVE)


def describe(config: DomainConfig) -> str:
    """A Gymnasium-style docstring for the env of a domain preset, with its concrete spaces."""
    m, k, h = config.num_candidates, config.slate_size, config.history_length
    features, user = feature_names(config), user_feature_names(config)
    action = f"``Discrete({m})``" if k == 1 else f"``MultiDiscrete([{m}] * {k})``"
    churn = (
        f" The user also churns with probability ``{config.churn_rate} * (1 - engagement)`` per step."
        if config.churn_rate
        else ""
    )
    signals = ", ".join(f"``{name}``" for name in ("clicked", "position", "item")) + " and the domain's signals"
    if config.suitability is not None:
        signals += "; ``unsuitable`` counts unsuitable items shown"
    description = textwrap.fill(config.description, 100, subsequent_indent="    ")
    no_click = "; a step without a click earns 0" + (
        " (the suitability penalty still applies)" if config.suitability is not None else ""
    )
    return f"""``{config.env_id}``: {config.reward_description}.

    ## Description
    {description}

    Each step the agent sees {m} candidate items and recommends a slate of {k}. A simulated user with
    latent interests, fatigue, satisfaction and a time budget picks at most one item (``{config.choice_model}``
    choice with a no-click option and position bias) and responds with the domain's signals. Item
    relations in a knowledge graph shape the vectors users react to (KG fusion) and what they want next
    (boosts after consumption). The task (cohort) is set with ``reset(options={{"task": Task(...)}})``
    and stays until changed.

    ## Action Space
    {action}: positions into the candidate list, best first. A position repeated in a slate is shown
    once, at its first occurrence; the later copies are empty slots. A non-integer dtype, a wrong shape
    or an out-of-range value raises ``ValueError`` and changes nothing.

    ## Observation Space
    A flat ``Dict`` of 1-D ``Box``es (SB3's ``MultiInputPolicy`` takes it as is); matrices are flattened
    row by row, so ``candidate_features.reshape({m}, {len(features)})`` has one row per candidate:

    | key | shape | dtype | content |
    |---|---|---|---|
    | ``candidate_ids`` | ({m},) | int64 | item ids on offer, in ``[0, {config.num_items})`` |
    | ``candidate_features`` | ({m * len(features)},) | float32 | {", ".join(features)} |
    | ``history_ids`` | ({h},) | int64 | last {h} interactions, oldest first: the item consumed, or the top item of a skipped slate; -1 where empty |
    | ``history_responses`` | ({h * len(RESPONSE_COLUMNS)},) | float32 | {", ".join(RESPONSE_COLUMNS)} of those interactions |
    | ``user_features`` | ({len(user)},) | float32 | {", ".join(user)} |

    Topics are one-hot; popularity and attributes are standardised over the catalogue and clipped to
    [-{FEATURE_CLIP:g}, {FEATURE_CLIP:g}]. Latent vectors, quality, latent traits and the budget are never observed.

    ## Rewards
    {config.reward_description[0].upper() + config.reward_description[1:]}{no_click}.
    ``info`` carries {signals}.

    ## Episode End
    ``terminated`` when the user's time budget ({config.time_budget:g}) is spent: consuming takes time,
    a skipped slate costs {config.no_click_cost:g}, and satisfying items refund time.{churn}
    ``truncated`` after {config.max_episode_steps} steps (the registration's ``max_episode_steps``).

    ## Long Horizon
    {textwrap.fill(config.long_horizon or "None designed in.", 100, subsequent_indent="    ")}
    The planning oracle (``recsim_meta.agents.PlanningOracle``) prices the time budget to use it; the
    reference scores (``recsim_meta.reference``) give its return beside the myopic oracle's.

    ## Arguments
    ``gym.make("{config.env_id}", render_mode=None | "ansi" | "rgb_array", **overrides)``: any ``DomainConfig``
    field can be overridden (``slate_size``, ``num_candidates``, ``choice_model``, ...); an unknown key
    or an invalid value raises ``ValueError``.

    ## Version History
    * v0: initial release.
    """


class RecEnv(gym.Env):
    """A user of a recommendation domain, one session per episode: one class for every domain.

    ``RecEnv(domain, render_mode, **overrides)`` builds the env of any ``DomainConfig`` preset; the
    registered ids use its per-domain subclasses (``recsim_meta.envs.domain_envs``), whose docstrings
    give each domain's description, spaces, reward and episode end (see ``describe``).
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    preset = "ecommerce"  # the domain a subclass simulates when no domain is given

    def __init__(self, domain: str | None = None, render_mode: str | None = None, **overrides: Any) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"unknown render_mode {render_mode!r}; accepted: None, {', '.join(self.metadata['render_modes'])}"
            )
        self.config = make_config(
            self.preset if domain is None else check_choice("domain", domain, PRESETS), **overrides
        )
        self.render_mode = render_mode
        self.world = world_for(self.config, Task(domain=self.config.name))
        self.observation_space = observation_space(self.config)
        self.action_space = action_space(self.config)
        self.sessions: Sessions | None = None
        self._last_render: tuple[np.ndarray, np.ndarray, float, dict[str, Any]] | None = None

    @property
    def task(self) -> Task:
        return self.world.task

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Names of the ``F`` columns of ``candidate_features.reshape(M, F)``."""
        return self.world.feature_names

    @property
    def user_feature_names(self) -> tuple[str, ...]:
        """Names of the ``user_features`` columns."""
        return self.world.user_feature_names

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        seed, task = reset_seed(seed), task_option(options, (self.config.name,))  # checked first: nothing changes
        super().reset(seed=seed)
        if task is not None:
            self.world = world_for(self.config, task)
        self.sessions = self.world.start(self.np_random, 1)
        self._last_render = None
        return self._observation(), {"task": self.task}

    def step(self, action: Any) -> tuple[dict, float, bool, bool, dict]:
        if self.sessions is None:
            raise RuntimeError("call reset() before step()")
        slate = validate_action(action, self.config)
        candidates = self.sessions.candidates[0]  # the step replaces the array, so these stay what was shown
        outcome = self.world.step(self.np_random, self.sessions, slate[None])
        info = {
            "clicked": bool(outcome.clicked[0]),
            "position": int(outcome.position[0]),
            "item": int(outcome.item[0]),
            **{name: float(value[0]) for name, value in outcome.signals.items()},
        }
        reward = float(outcome.reward[0])
        self._last_render = (slate, candidates, reward, info)
        terminated = bool(outcome.terminated[0])
        # built directly, the env ends episodes at max_episode_steps itself; through gym.make (a spec), the
        # registration's TimeLimit does, which gym.make(..., max_episode_steps=N) sets
        truncated = self.spec is None and not terminated and self.sessions.steps[0] >= self.config.max_episode_steps
        return self._observation(), reward, terminated, bool(truncated), info

    def _observation(self) -> dict[str, np.ndarray]:
        return {key: value[0] for key, value in self.world.observe(self.sessions).items()}

    def render(self) -> str | np.ndarray | None:
        """``ansi``: the last slate and response as text; ``rgb_array``: a picture ``(240, 320, 3)`` uint8 of the
        candidates, the last slate and choice, the user's budget, fatigue and interests (``rendering``)."""
        if self.render_mode == "rgb_array":
            if self.sessions is None:
                raise RuntimeError("call reset() before render()")
            return render_session(self.world, self.sessions, self._last_render)
        if self.render_mode != "ansi":
            return None
        if self._last_render is None:
            return f"{self.config.env_id}: new session, {self.config.num_candidates} candidates\n"
        slate, candidates, reward, info = self._last_render
        shown, info = candidates[slate], {"reward": reward, **info}
        catalog = self.world.catalog
        lines = [f"{self.config.env_id} step {int(self.sessions.steps[0])}: slate of {len(slate)}"]
        seen: set[int] = set()
        for rank, (position, item) in enumerate(zip(slate, shown, strict=True)):
            if int(position) in seen:
                lines.append(f"  {rank}. (empty: repeats position {int(position)})")
                continue
            seen.add(int(position))
            attrs = ", ".join(f"{name}={values[item]:.2f}" for name, values in catalog.attributes.items())
            mark = "  <- chosen" if info["item"] == item else ""
            lines.append(f"  {rank}. item {item:4d} topic {catalog.topics[item]:2d} {attrs}{mark}")
        signals = ", ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in info.items())
        lines.append(f"  response: {signals}")
        return "\n".join(lines) + "\n"

    # ----------------------------------------------------------------- ground truth (baselines, metrics)
    def oracle_slate(self, objective: str = "reward", kg_aware: bool = True) -> np.ndarray | int:
        """The myopic oracle's action for the current state (uses the true latent state)."""
        if self.sessions is None:
            raise RuntimeError("call reset() before oracle_slate()")
        slate = self.world.oracle_slates(self.sessions, objective, kg_aware)[0]
        return int(slate[0]) if self.config.slate_size == 1 else slate

    def kg_edges(self) -> np.ndarray:
        """Item-item KG edges ``(E, 3)`` of ``(head, relation_id, tail)``; names in ``kg_relations``."""
        return self.world.kg.edge_list()

    @property
    def kg_relations(self) -> tuple[str, ...]:
        return self.world.kg.relations

    def item_features(self) -> np.ndarray:
        """The catalogue's observable features ``(num_items, F)`` in ``feature_names`` columns, what the
        candidates' features are before per-session signals (the social column is 0 here)."""
        return self.world.item_features.copy()

    @property
    def knowledge_graph(self):
        """The networkx MultiDiGraph of items and entities."""
        return self.world.kg.graph

    @property
    def catalog(self):
        return self.world.catalog
