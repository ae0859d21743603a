"""The world of one (domain, task): catalogue, KG and cohort, with batched session dynamics.

``RecEnv`` runs one session of it (B = 1) and ``RecVectorEnv`` many, so both share these dynamics.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

import numpy as np

from recsim_meta.envs.domains import RESPONSES, UTILITY_TERM_KINDS, DomainConfig, domain_variant, seed_of
from recsim_meta.sim.catalog import make_catalog
from recsim_meta.sim.choice import CHOICE_CODES, choice_probabilities
from recsim_meta.sim.kernels import (
    advance_sessions,
    advanced_arrays,
    draw_candidates,
    draw_session_candidates,
    engagements,
    item_utilities,
    observe_sessions,
    show_slates,
    shown_arrays,
    term_sums,
    where_clicked,
)
from recsim_meta.sim.knowledge_graph import boost_matrix, fuse_vectors, make_knowledge_graph, nonzero_rows
from recsim_meta.sim.pcg64 import generator_state
from recsim_meta.sim.responses import Consumption, Draw, Expectation, Response
from recsim_meta.sim.social import make_social_graph
from recsim_meta.sim.tasks import Task
from recsim_meta.sim.users import UNIFORM_TO_UNIT_STD, UserState, cohort_interest_mean, sample_users

RESPONSE_COLUMNS = ("clicked", "reward", "engagement")
FEATURE_CLIP = 5.0  # standardised item features are clipped to [-FEATURE_CLIP, FEATURE_CLIP]
USER_FEATURES = ("log_steps", "session_ctr", "last_reward", "log_time_spent")  # then the observed traits
SOCIAL_FEATURE = "friends_engaged"  # candidate feature of social domains: the friend signal
_NO_BURSTS = np.zeros((0, 0))  # empty arrays for the compiled step's parts a domain lacks
_NO_BOOSTS = (
    np.zeros((0, 0), dtype=np.float32),
    np.zeros(0),
    *(np.zeros((0, 0), dtype=t) for t in (np.int64, np.int64, np.float32)),
)
_NO_FRIENDS = (np.zeros((0, 0), dtype=np.float32), np.zeros(0, dtype=np.int64), np.float32(0.0))
_NO_PENALTY = np.zeros(0)
_NO_TRAITS = np.zeros((1, 0))  # no utility terms: nothing read, for any number of sessions


@dataclass
class Sessions:
    """State of ``B`` sessions; the first axis of every array is the session.

    Attributes:
        users: latent user state.
        history_ids: last H interactions (oldest first), -1 where empty, ``(B, H)``.
        history_responses: their ``RESPONSE_COLUMNS``, ``(B, H, 3)``.
        candidates: item ids on offer, ``(B, M)``.
        steps, clicks, time_spent, last_reward: observable session statistics, ``(B,)``.
        burst: extra appeal of each topic from ongoing bursts, ``(B, T)``.
        member: the user's node in the social graph, ``(B,)`` (0 without one).
    """

    users: UserState
    history_ids: np.ndarray
    history_responses: np.ndarray
    candidates: np.ndarray
    steps: np.ndarray
    clicks: np.ndarray
    time_spent: np.ndarray
    last_reward: np.ndarray
    burst: np.ndarray
    member: np.ndarray


class Expected(NamedTuple):
    """Each candidate of ``B`` sessions in expectation, arrays of shape ``(B, M)``, under the true state.

    Attributes:
        utility: click utility (without position bias).
        affinity: ``interest . v~_i`` plus KG boosts.
        engagement: how much the user would like it, in (0, 1).
        reward: expected reward of a click on it.
        time: expected time a click on it takes from the budget, before the refund.
        penalty: reward lost by showing it, clicked or not (suitability).
    """

    utility: np.ndarray
    affinity: np.ndarray
    engagement: np.ndarray
    reward: np.ndarray
    time: np.ndarray
    penalty: np.ndarray


class Outcome(NamedTuple):
    """What happened in one step of ``B`` sessions, arrays of shape ``(B,)``.

    Attributes:
        reward: reward (0 without a click).
        clicked: whether an item was consumed.
        position: slate position chosen, -1 for no click.
        item: item consumed, -1 for no click.
        terminated: the user's time budget is spent, or the user churned.
        signals: the domain's signals, 0 without a click; ``unsuitable`` counts unsuitable items shown.
    """

    reward: np.ndarray
    clicked: np.ndarray
    position: np.ndarray
    item: np.ndarray
    terminated: np.ndarray
    signals: dict[str, np.ndarray]


@dataclass(frozen=True)
class TermTable:
    """A domain's utility terms as arrays (see ``UtilityTerm``), for the compiled sums.

    Attributes:
        values: per-item attribute values entering each term, centred for ``linear`` and ``log`` (of the
            log), ``(N, n_terms)``.
        kinds: index of each term's kind in ``UTILITY_TERM_KINDS``.
        weights, scales: each term's weight and half-life (``freshness``).
        halves: 0.5 per term, the ``freshness`` kept per half-life (an array, see ``kernels._term_sum``).
        in_engagement: the terms also added to engagement.
    """

    values: np.ndarray
    kinds: np.ndarray
    weights: np.ndarray
    scales: np.ndarray
    halves: np.ndarray
    in_engagement: np.ndarray


Rows = Sessions | UserState | dict  # a tree of arrays whose first axis is the session


def map_rows(function: Callable[..., Any], tree: Rows, *others: Rows) -> Rows:
    """``tree`` rebuilt with ``function(array, *the same array of others)`` in place of each of its arrays."""
    if isinstance(tree, np.ndarray):
        return function(tree, *others)
    if isinstance(tree, dict):
        return {key: map_rows(function, value, *(other[key] for other in others)) for key, value in tree.items()}
    return type(tree)(
        **{
            f.name: map_rows(function, getattr(tree, f.name), *(getattr(o, f.name) for o in others))
            for f in fields(tree)
        }
    )


def replace_rows(target: Rows, rows: np.ndarray, source: Rows) -> None:
    """Overwrite the sessions ``rows`` of ``target`` in place with those of ``source`` (one per row)."""

    def put(current: np.ndarray, value: np.ndarray) -> None:
        current[rows] = value

    map_rows(put, target, source)


def select_rows(tree: Rows, rows: np.ndarray) -> Rows:
    """The sessions ``rows`` (indices or a mask) of ``tree``, copied."""
    return map_rows(lambda array: array[rows], tree)


def join_rows(first: Rows, second: Rows) -> Rows:
    """The sessions of ``first`` followed by those of ``second``."""
    return map_rows(lambda a, b: np.concatenate([a, b]), first, second)


def _when_clicked(clicked: np.ndarray, signal: np.ndarray) -> np.ndarray:
    """``np.where(clicked, signal, 0.0)`` for a response's ``signal`` of one value per session."""
    signal = np.asarray(signal, dtype=np.float64)
    if signal.shape != clicked.shape:
        raise ValueError(f"a response signal has shape {signal.shape}; expected {clicked.shape}, one value per session")
    zeroed = np.empty(len(clicked))
    where_clicked(clicked, signal, zeroed)
    return zeroed


def feature_names(config: DomainConfig) -> tuple[str, ...]:
    """Names of the candidate feature columns: topic one-hot, standardised log popularity and attributes, friend signal."""
    names = [f"topic_{t}" for t in range(config.num_topics)] + ["log_popularity"]
    names += [a.name for a in config.attributes]
    return tuple(names + ([SOCIAL_FEATURE] if config.social is not None else []))


def user_feature_names(config: DomainConfig) -> tuple[str, ...]:
    """Names of the observed user features: session statistics, then the observed traits."""
    return USER_FEATURES + config.observed_traits


WORLDS_KEPT = 128
"""The worlds ``world_for`` keeps: a task's world costs about 0.1 s to build (its knowledge graph) and stepping
it much less, and a world never changes once built (the sessions hold all that moves)."""


@functools.lru_cache(maxsize=WORLDS_KEPT)
def world_for(config: DomainConfig, task: Task) -> World:
    """The ``World`` of ``config`` and ``task``, built once and shared by every env that runs them."""
    return World(config, task)


class World:
    """Catalogue, knowledge graph and user cohort of one task, and the dynamics of its sessions.

    ``config`` is the domain's; a task with a ``variant`` runs ``domain_variant(config, task.variant)``
    (``world.config``)."""

    def __init__(self, config: DomainConfig, task: Task) -> None:
        config = domain_variant(config, task.variant)
        self.config = config
        self.task = task
        rng = np.random.default_rng([task.catalogue_seed, seed_of(config.name)])
        self.catalog = make_catalog(
            rng,
            num_items=config.num_items,
            num_topics=config.num_topics,
            dim=config.embedding_dim,
            centroid_kind=config.centroid_kind,
            item_spread=config.item_spread,
            clickbait_fraction=config.clickbait_fraction,
            clickbait_appeal=config.clickbait_appeal,
            quality_mean=config.quality_mean,
            clickbait_quality_mean=config.clickbait_quality_mean,
            topic_quality_spread=config.topic_quality_spread,
            quality_std=config.quality_std,
            zipf_exponent=config.zipf_exponent,
            popularity_noise=config.popularity_noise,
            popularity_quality_weight=config.popularity_quality_weight,
            attributes=config.attributes,
            topic_quality_means=config.topic_quality_means,
        )
        catalog = self.catalog
        self.kg = make_knowledge_graph(
            rng, catalog.vectors, catalog.topics, config.num_topics, config.entities, config.relations
        )
        self.kg_strength = config.kg_strength if task.kg_strength is None else task.kg_strength
        fusion_weights = np.array([r.fusion_weight for r in config.relations])
        self.fused_vectors = fuse_vectors(catalog.vectors, self.kg, self.kg_strength, fusion_weights)
        boosts = boost_matrix(self.kg, config.num_items, np.array([r.boost for r in config.relations]))
        self.boost_rows = nonzero_rows(boosts)  # each item's boosted items and boosts: lookups that stay in cache
        self.neighbours, self.degree = self.kg.neighbour_table(config.num_items)
        # weight of each history slot (oldest first) in the KG boost
        self.boost_weights = config.boost_decay ** np.arange(config.history_length - 1, -1, -1)

        cohort_rng = np.random.default_rng([task.cohort_seed, seed_of(config.name)])
        favourites = cohort_rng.choice(
            config.num_topics, size=config.favourite_topics, replace=False, p=catalog.topic_popularity
        )
        self.interest_mean = cohort_interest_mean(
            catalog.centroids, favourites, config.cohort_focus * task.interest_scale
        )
        self.social = None
        if config.social is not None:
            spec = config.social
            authors = self.kg.entities.get("author")  # authors are members: the KG's author entities
            if authors is None:
                authors = cohort_rng.integers(0, spec.members, config.num_items)
            self.social = make_social_graph(
                cohort_rng, spec, self.fused_vectors, authors, self.interest_mean, config.interest_std
            )

        self.item_features = self._observable_features()
        self.feature_names = feature_names(config)
        self.user_feature_names = user_feature_names(config)
        self.terms = self._term_table()
        self.respond = RESPONSES[config.response]
        self.engagement_weights = (self.catalog.quality, config.engagement_affinity, config.engagement_quality)
        self.position_bias = -config.position_decay * np.arange(config.slate_size)
        self.choice = (config.no_click_utility, config.choice_temperature, CHOICE_CODES[config.choice_model])
        # the friend signal's weight in float32: numpy multiplied the float32 signal by it in float32
        self.social_weight = np.float32(0.0 if config.social is None else config.social.weight)
        self.dynamics = config.dynamics()
        d = self.dynamics
        self.rates = np.array(  # of ``advance_sessions``
            [
                d.pull,
                d.reversion,
                d.drift * UNIFORM_TO_UNIT_STD,
                d.fatigue_decay,
                d.fatigue_rate,
                d.satisfaction_rate,
                config.satisfaction_affinity,
                d.budget_refund,
                d.no_click_cost,
                config.churn_rate,
                float(config.interest_update == "recsim"),
            ],
            dtype=np.float64,
        )

    # ----------------------------------------------------------------- set-up helpers
    def _observable_features(self) -> np.ndarray:
        """Per-item features an agent may see (``feature_names``); the social column is filled per session."""
        c = self.catalog
        columns = [np.eye(self.config.num_topics)[c.topics]]
        raw = [np.log(c.popularity)] + [
            np.log(c.attributes[a.name]) if a.distribution == "lognormal" else c.attributes[a.name]
            for a in self.config.attributes
        ]
        for values in raw:
            standardised = (values - values.mean()) / (values.std() + 1e-8)
            columns.append(np.clip(standardised, -FEATURE_CLIP, FEATURE_CLIP)[:, None])
        if self.config.social is not None:
            columns.append(np.zeros((c.num_items, 1)))
        return np.concatenate(columns, axis=1).astype(np.float32)

    def _term_table(self) -> TermTable:
        """The domain's utility terms as arrays for the compiled sums."""
        terms = self.config.utility_terms
        columns = []
        for term in terms:
            values = self.catalog.attributes[term.attribute]
            if term.kind == "log":
                values = np.log(values)
            if term.kind in ("linear", "log"):
                values = values - values.mean()
            columns.append(values)
        return TermTable(
            values=np.stack(columns, axis=1) if columns else np.zeros((self.config.num_items, 0)),
            kinds=np.array([UTILITY_TERM_KINDS.index(term.kind) for term in terms], dtype=np.int64),
            weights=np.array([term.weight for term in terms], dtype=np.float64),
            scales=np.array([term.scale for term in terms], dtype=np.float64),
            halves=np.full(len(terms), 0.5),
            in_engagement=np.array([term.in_engagement for term in terms], dtype=bool),
        )

    # ----------------------------------------------------------------- sessions
    def start(self, rng: np.random.Generator, num_sessions: int) -> Sessions:
        """New sessions with fresh users of the task's cohort and their first candidates."""
        cfg = self.config
        users = sample_users(
            rng,
            num_sessions,
            interest_mean=self.interest_mean,
            interest_std=cfg.interest_std,
            num_topics=cfg.num_topics,
            time_budget=cfg.time_budget,
            traits=cfg.traits,
            trait_shift=self.task.trait_shift,
            interest_distribution=cfg.interest_distribution,
        )
        zeros = np.zeros(num_sessions)
        return Sessions(
            users=users,
            history_ids=np.full((num_sessions, cfg.history_length), -1, dtype=np.int64),
            history_responses=np.zeros((num_sessions, cfg.history_length, len(RESPONSE_COLUMNS)), dtype=np.float32),
            candidates=self.sample_candidates(rng, None, num_sessions),
            steps=zeros.copy(),
            clicks=zeros.copy(),
            time_spent=zeros.copy(),
            last_reward=zeros,
            burst=np.zeros((num_sessions, cfg.num_topics)),
            member=(
                rng.integers(0, cfg.social.members, num_sessions)
                if cfg.social is not None
                else np.zeros(num_sessions, dtype=np.int64)
            ),
        )

    def sample_candidates(self, rng: np.random.Generator, s: Sessions | None, num_sessions: int) -> np.ndarray:
        """``M`` distinct candidate items per session, ``(B, M)`` int64.

        Like a real retrieval stage, up to ``related_candidates`` of them are KG neighbours of the
        session's most recently consumed item; the rest are uniform over the catalogue. One session
        draws them as ``Generator.choice`` and ``Generator.random`` would, from ``rng``'s state
        (``draw_session_candidates``); many sessions in one compiled pass with draws of their own from a key
        that ``rng`` gives (``draw_candidates``), the same distribution.
        """
        n, m, r = self.config.num_items, self.config.num_candidates, self.config.related_candidates
        if s is None:  # no history yet: no related items
            clicked, history, r = np.zeros((num_sessions, 1)), np.zeros((num_sessions, 1), dtype=np.int64), 0
        else:
            clicked, history = s.history_responses[:, :, 0], s.history_ids
        if num_sessions > 1:
            key = rng.integers(0, 2**64, dtype=np.uint64)
            return draw_candidates(clicked, history, self.degree, self.neighbours, n, m, r, key)
        candidates = np.empty((1, m), dtype=np.int64)
        draw_session_candidates(*generator_state(rng), clicked, history, self.degree, self.neighbours, n, r, candidates)
        return candidates

    def observe(self, s: Sessions) -> dict[str, np.ndarray]:
        """Batched observation: every value has the session as first axis and is flat after it."""
        (batch, size), (length, responses) = s.candidates.shape, s.history_responses.shape[1:]
        observation = {
            "candidate_ids": np.empty((batch, size), dtype=np.int64),
            "candidate_features": np.empty((batch, size * len(self.feature_names)), dtype=np.float32),
            "history_ids": np.empty((batch, length), dtype=np.int64),
            "history_responses": np.empty((batch, length * responses), dtype=np.float32),
            "user_features": np.empty((batch, len(self.user_feature_names)), dtype=np.float32),
        }
        signal, member, _ = self._friends(s)
        observe_sessions(
            s.candidates,
            self.item_features,
            s.history_ids,
            s.history_responses,
            s.steps,
            s.clicks,
            s.last_reward,
            s.time_spent,
            signal,
            member,
            *observation.values(),
        )
        for index, name in enumerate(self.config.observed_traits, start=len(USER_FEATURES)):
            observation["user_features"][:, index] = s.users.traits[name]
        return observation

    # ----------------------------------------------------------------- user model
    def utilities(self, s: Sessions, items: np.ndarray, kg_aware: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Click utility and affinity of ``items`` (``(B, S)``) for each session's user (no position bias).

        Affinity is ``interest . v~_i`` plus the KG boost from recent consumption (a lens is wanted
        right after a camera); utility adds appeal, domain terms and subtracts topic fatigue.

        ``kg_aware=False`` gives what a model blind to the KG would compute: raw item vectors and no boosts.
        """
        return item_utilities(items, self._user_model(s, kg_aware))

    def _user_model(self, s: Sessions, kg_aware: bool = True) -> tuple:
        """``item_utilities``' ``user``: the sessions' users and the world's items."""
        kg_boosts = kg_aware and bool(self.config.relations)
        return (
            s.users.interest,
            self.fused_vectors if kg_aware else self.catalog.vectors,
            (s.history_responses[:, :, 0], self.boost_weights, s.history_ids, *self.boost_rows)
            if kg_boosts
            else _NO_BOOSTS,
            self.catalog.appeal,
            self.catalog.topics,
            s.users.fatigue,
            s.burst if self.config.burst_rate > 0 else _NO_BURSTS,
            self._friends(s),
            self._terms(s),
        )

    def _friends(self, s: Sessions) -> tuple[np.ndarray, np.ndarray, np.float32]:
        """The social graph's friend signal ``(members, N)``, each session's member and the signal's weight in
        the utility; ``_NO_FRIENDS`` in a domain without one."""
        return _NO_FRIENDS if self.social is None else (self.social.signal, s.member, self.social_weight)

    def domain_terms(self, s: Sessions, items: np.ndarray) -> np.ndarray:
        """Sum of the domain's utility terms for ``items`` ``(B, S)`` (see ``UtilityTerm``)."""
        return term_sums(items, self._terms(s))

    def _terms(self, s: Sessions) -> tuple[np.ndarray, ...]:
        """The compiled term sums' ``terms`` (see ``kernels._term_sum``): the table, each term's trait per user
        (1, or 0 for ``mismatch``, without one) and the session time."""
        terms = self.config.utility_terms
        traits = np.empty((len(s.steps), len(terms))) if terms else _NO_TRAITS
        for k, term in enumerate(terms):
            traits[:, k] = s.users.traits[term.trait] if term.trait else (0.0 if term.kind == "mismatch" else 1.0)
        t = self.terms
        return t.values, t.kinds, t.weights, t.scales, t.halves, t.in_engagement, traits, s.time_spent

    def unsuitable(self, s: Sessions, items: np.ndarray) -> np.ndarray:
        """Which ``items`` (``(B, S)``) break the domain's suitability rule (it must have one) for each session's user."""
        rule = self.config.suitability
        return self.catalog.attributes[rule.attribute][items] > s.users.traits[rule.trait][:, None] + rule.margin

    def consumption(self, s: Sessions, items: np.ndarray, affinity: np.ndarray, engagement: np.ndarray) -> Consumption:
        """What the response function sees for ``items`` of shape ``(B,)`` or ``(B, S)``."""
        traits = s.users.traits
        return Consumption(
            attributes={name: values[items] for name, values in self.catalog.attributes.items()},
            quality=self.catalog.quality[items],
            affinity=affinity,
            engagement=engagement,
            traits=dict(traits) if items.ndim == 1 else {name: values[:, None] for name, values in traits.items()},
            budget=s.users.budget if items.ndim == 1 else s.users.budget[:, None],
        )

    def engagement(self, s: Sessions, items: np.ndarray, affinity: np.ndarray) -> np.ndarray:
        """Engagement ``(B, S)`` of each session's user with ``items`` ``(B, S)`` of the given ``affinity``."""
        return engagements(affinity, items, *self.engagement_weights, self._terms(s))

    def slate_choice(self, utilities: np.ndarray) -> np.ndarray:
        """Choice probabilities ``(..., K + 1)`` of slates whose utilities already include position bias."""
        cfg = self.config
        return choice_probabilities(utilities, cfg.no_click_utility, cfg.choice_temperature, cfg.choice_model)

    # ----------------------------------------------------------------- step
    def step(self, rng: np.random.Generator, s: Sessions, slates: np.ndarray) -> Outcome:
        """Show each session the slate of candidate positions ``slates`` ``(B, K)``; advance in place.

        A position repeated in a slate is shown once, at its first occurrence; later copies are empty slots.
        The compiled parts draw from ``rng``'s own state, as numpy would have, between its numpy draws.
        """
        cfg = self.config
        state, _ = generator_state(rng)
        shown = shown_arrays(*slates.shape)
        show_slates(
            slates,
            s.candidates,
            self._user_model(s),
            self.position_bias,
            self.choice,
            self.engagement_weights,
            state,
            *shown,
        )
        items, clicked, position, item, empty, item_affinity, item_engagement = shown
        response: Response = self.respond(self.consumption(s, item, item_affinity, item_engagement), Draw(rng))
        signals = {name: _when_clicked(clicked, value) for name, value in response.signals.items()}
        penalty = _NO_PENALTY
        if cfg.suitability is not None:
            unsuitable = (self.unsuitable(s, items) & ~empty).sum(axis=1)
            penalty = cfg.suitability.penalty * unsuitable
            signals["unsuitable"] = unsuitable.astype(np.float64)
        users = s.users
        advanced = advanced_arrays(len(slates))
        advance_sessions(
            clicked,
            item,
            items,
            np.asarray(response.reward, dtype=np.float64),
            penalty,
            item_engagement,
            item_affinity,
            np.asarray(response.time, dtype=np.float64),
            users.interest,
            users.fatigue,
            users.satisfaction,
            users.budget,
            s.history_ids,
            s.history_responses,
            s.steps,
            s.clicks,
            s.time_spent,
            s.last_reward,
            self.fused_vectors,
            self.catalog.topics,
            self.catalog.quality,
            self.interest_mean,
            self.rates,
            state,
            *advanced,
        )
        reward, consumed_item, engagement, terminated = advanced
        for spec in self.dynamics.traits:  # traits that grow with use
            if spec.growth:
                grown = users.traits[spec.name] + spec.growth * clicked.astype(np.float64) * engagement
                users.traits[spec.name] = np.clip(grown, spec.low, spec.high)
        if cfg.burst_rate > 0:
            s.burst *= cfg.burst_decay
            bursting = np.flatnonzero(rng.random(len(slates)) < cfg.burst_rate)
            s.burst[bursting, rng.integers(0, cfg.num_topics, len(bursting))] += cfg.burst_appeal
        s.candidates = self.sample_candidates(rng, s, len(slates))
        return Outcome(
            reward=reward,
            clicked=clicked,
            position=position,
            item=consumed_item,
            terminated=terminated,
            signals=signals,
        )

    # ----------------------------------------------------------------- ground truth
    def expected_outcomes(self, s: Sessions, kg_aware: bool = True) -> Expected:
        """What each session's user would do with each of its candidates, in expectation (``Expected``)."""
        utility, affinity = self.utilities(s, s.candidates, kg_aware)
        engagement = self.engagement(s, s.candidates, affinity)
        response = self.respond(self.consumption(s, s.candidates, affinity, engagement), Expectation())
        penalty = np.zeros_like(utility)
        if self.config.suitability is not None:
            penalty = self.config.suitability.penalty * self.unsuitable(s, s.candidates)
        return Expected(
            utility=utility,
            affinity=affinity,
            engagement=engagement,
            reward=np.broadcast_to(np.asarray(response.reward, dtype=np.float64), utility.shape),
            time=np.broadcast_to(np.asarray(response.time, dtype=np.float64), utility.shape),
            penalty=penalty,
        )

    def best_slates(
        self, utility: np.ndarray, value: np.ndarray, no_click_value: np.ndarray, penalty: np.ndarray
    ) -> np.ndarray:
        """Slates built greedily, slot by slot, to maximise the expected value of the user's choice.

        Args:
            utility: click utility of each candidate ``(B, M)`` (without position bias).
            value: what a click on each candidate is worth ``(B, M)``.
            no_click_value: what a slate without a click is worth ``(B,)``.
            penalty: what showing each candidate costs, clicked or not ``(B, M)``.

        Returns:
            Candidate positions ``(B, K)``; a slot that would lower the expected value repeats the first
            position (an empty slot).
        """
        batch, num_candidates = utility.shape
        k_max = self.config.slate_size
        slate = np.zeros((batch, k_max), dtype=np.int64)
        slate_utility = np.full((batch, k_max), -np.inf)
        slate_value = np.zeros((batch, k_max))
        best_so_far = np.zeros(batch)
        slate_penalty = np.zeros(batch)
        rows = np.arange(batch)
        taken = np.zeros((batch, num_candidates), dtype=bool)
        for k in range(k_max):
            trial_u = np.repeat(slate_utility[:, None, : k + 1], num_candidates, axis=1)
            trial_u[:, :, k] = utility + self.position_bias[k]
            trial_v = np.repeat(slate_value[:, None, : k + 1], num_candidates, axis=1)
            trial_v[:, :, k] = value
            probabilities = self.slate_choice(trial_u)
            expected = (probabilities[..., :-1] * trial_v).sum(axis=-1) + probabilities[..., -1] * no_click_value[
                :, None
            ]
            expected -= slate_penalty[:, None] + penalty
            expected[taken] = -np.inf
            best = expected.argmax(axis=1)
            gain = expected[rows, best] > best_so_far + 1e-12
            if k == 0:
                gain[:] = True
            slate[:, k] = np.where(gain, best, slate[:, 0])
            slate_utility[:, k] = np.where(gain, utility[rows, best] + self.position_bias[k], -np.inf)
            slate_value[:, k] = np.where(gain, value[rows, best], 0.0)
            best_so_far = np.where(gain, expected[rows, best], best_so_far)
            slate_penalty += np.where(gain, penalty[rows, best], 0.0)
            taken[rows[gain], best[gain]] = True
        return slate

    def oracle_slates(self, s: Sessions, objective: str = "reward", kg_aware: bool = True) -> np.ndarray:
        """The myopic oracle: slates that maximise the expected immediate ``objective`` (``best_slates``).

        Args:
            s: sessions (read only).
            objective: ``"reward"`` (expected reward) or ``"click"`` (click probability, a clickbait chaser).
            kg_aware: ``False`` models the user as if the KG did not exist (alpha = 0, no boosts).
        """
        if objective not in ("reward", "click"):
            raise ValueError(f"unknown objective {objective!r}; accepted: reward, click")
        expected = self.expected_outcomes(s, kg_aware)
        no_click = np.zeros(len(s.steps))
        if objective == "click":
            ones = np.ones_like(expected.utility)
            return self.best_slates(expected.utility, ones, no_click, np.zeros_like(ones))
        return self.best_slates(expected.utility, expected.reward, no_click, expected.penalty)
