"""Domains as data: ``DomainConfig`` and its presets, plus one small response function per domain.

Override a preset with ``gym.make(env_id, **overrides)`` or ``dataclasses.replace``; an unknown key
or an invalid value raises ``ValueError`` naming it.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from recsim_meta.sim.catalog import CENTROID_KINDS, AttributeSpec
from recsim_meta.sim.choice import CHOICE_MODELS
from recsim_meta.sim.knowledge_graph import EntitySpec, RelationSpec
from recsim_meta.sim.responses import Consumption, Draw, Expectation, Response, sigmoid
from recsim_meta.sim.social import SocialSpec
from recsim_meta.sim.users import INTEREST_DISTRIBUTIONS, TraitSpec, UserDynamics
from recsim_meta.sim.validation import UNIT, Range, check_choice, check_fields

UTILITY_TERM_KINDS = ("linear", "log", "mismatch", "freshness")
INTEREST_UPDATES = ("pull", "recsim")


@dataclass(frozen=True)
class UtilityTerm:
    """A domain term of the click utility built from an item attribute and (optionally) a user trait.

    ``linear``: ``weight * trait * (attr - mean)``; ``log``: ``weight * trait * (log attr - mean log)``;
    ``mismatch``: ``weight * |attr - trait|``; ``freshness``: ``weight * 0.5 ** ((attr + t) / scale)``
    for an age attribute, ``t`` the time the session has lasted and ``scale`` the half-life. Without a
    trait, ``trait`` is 1 (and ``mismatch`` uses 0). Means are over the catalogue.

    ``in_engagement`` also adds the term to the engagement of a consumed item: the mismatch between a
    game's difficulty and the player's skill both deters the click and frustrates the play.
    """

    attribute: str
    kind: str
    weight: float
    trait: str = ""
    scale: float = 1.0
    in_engagement: bool = False

    def __post_init__(self) -> None:
        check_fields(self, {"weight": Range(-100, 100), "scale": Range(0, 1e6, open_low=True)}, "utility term: ")
        check_choice("utility term kind", self.kind, UTILITY_TERM_KINDS)


@dataclass(frozen=True)
class SuitabilityRule:
    """Items whose ``attribute`` exceeds the user's ``trait`` by more than ``margin`` are unsuitable.

    Each unsuitable item shown in a slate costs ``penalty`` reward (clicked or not) and is counted in
    ``info["unsuitable"]``: a high-risk fund offered to a cautious saver.
    """

    attribute: str
    trait: str
    margin: float
    penalty: float

    def __post_init__(self) -> None:
        check_fields(self, {"margin": Range(-10, 10), "penalty": Range(0, 1e6)}, "suitability.")


def ecommerce_response(c: Consumption, draw: Draw | Expectation) -> Response:
    """Click -> purchase with ``sigmoid(2 affinity + quality - price_sensitivity * log(price / 30) - 1)``; reward = revenue."""
    price = c.attributes["price"]
    buy_probability = sigmoid(2.0 * c.affinity + c.quality - c.traits["price_sensitivity"] * np.log(price / 30.0) - 1.0)
    purchase = draw.bernoulli(buy_probability)
    revenue = price * purchase
    return Response(reward=revenue, time=1.0 + purchase, signals={"purchase": purchase, "revenue": revenue})


def video_response(c: Consumption, draw: Draw | Expectation) -> Response:
    """Click -> watch ``length * engagement`` minutes; reward = watch time, which is also the time spent."""
    watch_time = c.attributes["length"] * c.engagement
    return Response(reward=watch_time, time=watch_time, signals={"watch_time": watch_time})


def recsim_video_response(c: Consumption, draw: Draw | Expectation) -> Response:
    """RecSim's interest-evolution viewer: click -> watch the whole video, ``min(length, budget)`` minutes;
    reward = watch time, which is also the time spent."""
    watch_time = np.minimum(c.attributes["length"], c.budget)
    return Response(reward=watch_time, time=watch_time, signals={"watch_time": watch_time})


def news_response(c: Consumption, draw: Draw | Expectation) -> Response:
    """Click -> read for ``length * engagement`` minutes (dwell); reward = 1 per click + dwell minutes."""
    dwell = c.attributes["length"] * c.engagement
    return Response(reward=1.0 + dwell, time=dwell, signals={"dwell": dwell})


def social_response(c: Consumption, draw: Draw | Expectation) -> Response:
    """Click -> like (p = engagement), comment (p = engagement / 3), share (p = engagement * sigmoid(quality)).

    Reward = like + 2 comment + 3 share; a comment takes 2 extra minutes.
    """
    like = draw.bernoulli(c.engagement)
    comment = draw.bernoulli(c.engagement / 3.0)
    share = draw.bernoulli(c.engagement * sigmoid(c.quality))
    reward = like + 2.0 * comment + 3.0 * share
    return Response(reward=reward, time=1.0 + 2.0 * comment, signals={"like": like, "comment": comment, "share": share})


def game_response(c: Consumption, draw: Draw | Expectation) -> Response:
    """Click -> play ``length * engagement`` minutes, then buy in-game content with ``sigmoid(4 engagement + quality - 4)``.

    Reward = play minutes + 10 per purchase.
    """
    play_time = c.attributes["length"] * c.engagement
    purchase = draw.bernoulli(sigmoid(4.0 * c.engagement + c.quality - 4.0))
    return Response(
        reward=play_time + 10.0 * purchase, time=play_time, signals={"play_time": play_time, "purchase": purchase}
    )


def finance_response(c: Consumption, draw: Draw | Expectation) -> Response:
    """Click -> invest ``2 * engagement`` (thousands); realised return ``~ N(expected_return, volatility)``.

    Reward = invested x ``100 * (realised - volatility^2 / (2 risk_tolerance))``, the mean-variance
    risk-adjusted return in percent; one step of the budget per investment.
    """
    volatility = c.attributes["volatility"]
    invested = 2.0 * c.engagement
    realised = draw.normal(c.attributes["expected_return"], volatility)
    reward = invested * 100.0 * (realised - volatility**2 / (2.0 * c.traits["risk_tolerance"]))
    return Response(
        reward=reward, time=np.ones_like(reward), signals={"invested": invested, "realised_return": realised}
    )


RESPONSES: dict[str, Callable[[Consumption, Draw | Expectation], Response]] = {
    "ecommerce": ecommerce_response,
    "news": news_response,
    "video": video_response,
    "recsim_video": recsim_video_response,
    "social": social_response,
    "game": game_response,
    "finance": finance_response,
}


RESPONSE_NEEDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ecommerce": (("price",), ("price_sensitivity",)),
    "news": (("length",), ()),
    "video": (("length",), ()),
    "recsim_video": (("length",), ()),
    "social": ((), ()),
    "game": (("length",), ()),
    "finance": (("expected_return", "volatility"), ("risk_tolerance",)),
}
"""The item attributes and user traits each response function reads."""

FIELD_RANGES: dict[str, Range] = {
    # sizes: with these limits a world takes at most about 300 MB (the KG boost matrix is num_items^2 float32,
    # the social signal members x num_items float32)
    "num_items": Range(1, 4096),
    "num_topics": Range(1, 1024),
    "embedding_dim": Range(1, 512),
    "num_candidates": Range(1, 1024),
    "related_candidates": Range(0, 1024),
    "slate_size": Range(1, 64),
    "history_length": Range(1, 1000),
    "max_episode_steps": Range(1, 1_000_000),
    "favourite_topics": Range(1, 1024),
    # the generative model's scales: bounded so that utilities, rewards and observations stay finite
    "item_spread": Range(0, 10),
    "clickbait_fraction": UNIT,
    "clickbait_appeal": Range(-10, 10),
    "quality_mean": Range(-10, 10),
    "clickbait_quality_mean": Range(-10, 10),
    "topic_quality_spread": Range(0, 10),
    "topic_quality_means": Range(-10, 10),
    "quality_std": Range(0, 10),
    "zipf_exponent": Range(0, 5),
    "popularity_noise": Range(0, 10),
    "popularity_quality_weight": Range(0, 10),
    "kg_strength": Range(0, 10),
    "boost_decay": UNIT,
    "interest_std": Range(0, 10),
    "cohort_focus": Range(0, 10),
    "interest_drift": Range(0, 10),
    "interest_pull": UNIT,
    "interest_reversion": UNIT,
    "fatigue_rate": Range(0, 10),
    "fatigue_decay": UNIT,
    "satisfaction_rate": UNIT,
    "satisfaction_affinity": Range(-10, 10),
    "budget_refund": Range(0, 10),
    "no_click_cost": Range(0, 1e6),
    "time_budget": Range(0, 1e6, open_low=True),
    "choice_temperature": Range(0, 100, open_low=True),
    "no_click_utility": Range(-100, 100),
    "position_decay": Range(0, 10),
    "engagement_affinity": Range(-10, 10),
    "engagement_quality": Range(-10, 10),
    "burst_rate": UNIT,
    "burst_appeal": Range(-10, 10),
    "burst_decay": UNIT,
    "churn_rate": UNIT,
}
"""The accepted range of every numeric ``DomainConfig`` field (``recsim_meta.sim.validation``)."""


@dataclass(frozen=True)
class DomainConfig:
    """Everything that defines a domain. Sizes: N items, T topics, d latent dims, M candidates, K slate.

    Attributes:
        name: preset name.
        env_name: the registered id is ``recsim_meta/{env_name}-v0``.
        response: key of the domain's response function in ``RESPONSES``.
        reward_description: what the reward measures, for docs and ``render``.
        description: what is specific to the domain, for the env's docstring.
        long_horizon: where the session's return differs from the step's (what a planning policy uses), for
            the env's docstring.
        num_items: N, catalogue size (at most 4096: the KG boost matrix is dense).
        num_topics: T.
        embedding_dim: d, latent dimension.
        num_candidates: M, candidates shown to the agent per step.
        related_candidates: candidate slots filled with KG neighbours of the last consumed item.
        slate_size: K, items recommended per step; 1 gives a ``Discrete`` action space.
        history_length: H, past interactions in the observation.
        max_episode_steps: step cap (``truncated``), set in the registration.
        centroid_kind: ``gaussian`` or ``onehot`` topic centroids.
        item_spread: std of item vectors around their topic centroid.
        clickbait_fraction: share of clickbait topics.
        clickbait_appeal: extra click utility of clickbait items.
        quality_mean: mean quality of ordinary topics.
        clickbait_quality_mean: mean quality of clickbait topics.
        topic_quality_spread: spread of topic mean quality.
        topic_quality_means: each topic's mean quality, given instead of drawn (RecSim's clusters); topics
            of negative mean are then the clickbait ones. Empty: drawn from the three fields above.
        quality_std: spread of item quality.
        zipf_exponent: popularity exponent.
        popularity_noise: how loosely popularity follows ``appeal + popularity_quality_weight * quality``.
        popularity_quality_weight: how much quality (not just appeal) makes items popular.
        attributes: observable item attributes.
        entities: KG entity types.
        relations: KG item-item relations.
        kg_strength: default fusion strength ``alpha``.
        boost_decay: per-step decay of KG boosts after consumption.
        interest_std: spread of user interests around the cohort mean (std of ``normal``, half-width of
            ``uniform``).
        interest_distribution: ``normal`` or ``uniform`` (RecSim's users: U(-1, 1) per dimension).
        cohort_focus: weight of the cohort's favourite topics in its mean interest (0: every cohort's users
            are centred on 0, as RecSim's).
        favourite_topics: topics in a cohort's interest prior.
        traits: user traits.
        utility_terms: domain terms of the click utility.
        interest_drift: per-step std of the random walk of interests (``UserDynamics``).
        interest_pull: how far interests move toward a consumed item (``UserDynamics``).
        interest_reversion: the share of a user's deviation from the cohort mean that reverts per step: a
            half-life of ``log(0.5) / log(1 - interest_reversion)`` steps (69 at the default 0.01).
        fatigue_rate: fatigue added to a consumed item's topic.
        fatigue_decay: multiplicative decay of fatigue per step.
        satisfaction_rate: weight of the latest item in the satisfaction average.
        budget_refund: budget returned per unit of time spent, per unit of satisfaction.
        no_click_cost: budget spent by a step without a click.
        interest_update: ``pull`` (toward the consumed item by ``interest_pull * engagement``, back to the
            cohort mean, plus drift) or ``recsim`` (RecSim's interest evolution: toward or away from the
            consumed item at random, by ``interest_pull * (1 - |interest|)``, clipped to [-1, 1]).
        satisfaction_affinity: weight of affinity (with KG boosts) beside quality in the utility a
            consumed item gives (RecSim's ``user_quality_factor``); satisfaction averages it.
        time_budget: starting time budget of a session.
        choice_model: ``mnl``, ``cascade`` or ``proportional`` (RecSim's multinomial proportional model).
        choice_temperature: inverse temperature of the choice model.
        no_click_utility: utility of not clicking.
        position_decay: utility lost per slate position (position bias).
        engagement_affinity: weight of affinity in engagement.
        engagement_quality: weight of quality in engagement.
        observed_traits: user traits the agent observes (a player's skill, a saver's risk tolerance).
        burst_rate: per-step probability that a topic bursts (breaking news) in a session.
        burst_appeal: utility a burst adds to its topic's items; it decays by ``burst_decay`` per step.
        churn_rate: per-step probability of leaving at zero engagement; the chance of leaving is
            ``churn_rate * (1 - engagement)`` (engagement 0 without a click): frustration and boredom.
        suitability: a ``SuitabilityRule`` (unsuitable items are penalised and counted), or None.
        social: a ``SocialSpec`` (a user-user graph whose members' engagement raises utility), or None.
    """

    name: str
    env_name: str
    response: str
    reward_description: str
    num_items: int = 500
    num_topics: int = 10
    embedding_dim: int = 8
    num_candidates: int = 20
    related_candidates: int = 5
    slate_size: int = 3
    history_length: int = 10
    max_episode_steps: int = 100
    centroid_kind: str = "gaussian"
    item_spread: float = 0.4
    clickbait_fraction: float = 0.2
    clickbait_appeal: float = 1.5
    quality_mean: float = 1.0
    clickbait_quality_mean: float = -1.5
    topic_quality_spread: float = 0.3
    quality_std: float = 0.5
    zipf_exponent: float = 1.0
    popularity_noise: float = 1.0
    popularity_quality_weight: float = 1.0
    topic_quality_means: tuple[float, ...] = ()
    attributes: tuple[AttributeSpec, ...] = ()
    entities: tuple[EntitySpec, ...] = ()
    relations: tuple[RelationSpec, ...] = ()
    kg_strength: float = 1.0
    boost_decay: float = 0.7
    interest_std: float = 0.5
    interest_distribution: str = "normal"
    cohort_focus: float = 1.0
    favourite_topics: int = 2
    traits: tuple[TraitSpec, ...] = ()
    utility_terms: tuple[UtilityTerm, ...] = ()
    interest_drift: float = 0.01
    interest_pull: float = 0.05
    interest_reversion: float = 0.01
    interest_update: str = "pull"
    fatigue_rate: float = 0.15
    fatigue_decay: float = 0.9
    satisfaction_rate: float = 0.5
    satisfaction_affinity: float = 0.5
    budget_refund: float = 0.3
    no_click_cost: float = 1.0
    time_budget: float = 60.0
    choice_model: str = "mnl"
    choice_temperature: float = 2.0
    no_click_utility: float = 1.0
    position_decay: float = 0.2
    engagement_affinity: float = 1.0
    engagement_quality: float = 2.0
    description: str = ""
    long_horizon: str = ""
    observed_traits: tuple[str, ...] = ()
    burst_rate: float = 0.0
    burst_appeal: float = 1.5
    burst_decay: float = 0.85
    churn_rate: float = 0.0
    suitability: SuitabilityRule | None = None
    social: SocialSpec | None = None

    def __post_init__(self) -> None:
        check_fields(self, FIELD_RANGES)
        for name, accepted in (
            ("centroid_kind", CENTROID_KINDS),
            ("choice_model", CHOICE_MODELS),
            ("response", RESPONSES),
            ("interest_distribution", INTEREST_DISTRIBUTIONS),
            ("interest_update", INTEREST_UPDATES),
        ):
            check_choice(name, getattr(self, name), accepted)
        if self.slate_size > self.num_candidates:
            raise ValueError(f"slate_size ({self.slate_size}) must be <= num_candidates ({self.num_candidates})")
        if not 0 <= self.related_candidates <= self.num_candidates:
            raise ValueError(
                f"related_candidates ({self.related_candidates}) must be in [0, num_candidates={self.num_candidates}]"
            )
        if self.num_candidates > self.num_items:
            raise ValueError(f"num_candidates ({self.num_candidates}) must be <= num_items ({self.num_items})")
        if self.favourite_topics > self.num_topics:
            raise ValueError(f"favourite_topics ({self.favourite_topics}) must be <= num_topics ({self.num_topics})")
        if self.num_topics > self.num_items:
            raise ValueError(f"num_topics ({self.num_topics}) must be <= num_items ({self.num_items})")
        if self.centroid_kind == "onehot" and self.embedding_dim != self.num_topics:
            raise ValueError(
                f"centroid_kind 'onehot' needs embedding_dim == num_topics, got {self.embedding_dim} and {self.num_topics}"
            )
        if self.topic_quality_means and len(self.topic_quality_means) != self.num_topics:
            raise ValueError(
                f"topic_quality_means needs one mean per topic ({self.num_topics}), got {len(self.topic_quality_means)}"
            )
        attribute_names = [a.name for a in self.attributes]
        trait_names = [t.name for t in self.traits]
        entity_names = [e.name for e in self.entities]
        for kind, names in (("attribute", attribute_names), ("trait", trait_names), ("entity", entity_names)):
            repeated = sorted({name for name in names if names.count(name) > 1})
            if repeated:
                raise ValueError(f"{kind} names must be distinct, got {repeated} more than once")
        needed_attributes, needed_traits = RESPONSE_NEEDS[self.response]
        for kind, needed, names in (
            ("attribute", needed_attributes, attribute_names),
            ("trait", needed_traits, trait_names),
        ):
            missing = sorted(set(needed) - set(names))
            if missing:
                raise ValueError(
                    f"response {self.response!r} needs the {kind}s {missing}; the domain's {kind}s: {sorted(names) or 'none'}"
                )
        for term in self.utility_terms:
            if term.attribute not in attribute_names:
                raise ValueError(
                    f"utility term uses unknown attribute {term.attribute!r}; attributes: {sorted(attribute_names)}"
                )
            if term.trait and term.trait not in trait_names:
                raise ValueError(f"utility term uses unknown trait {term.trait!r}; traits: {sorted(trait_names)}")
        for relation in self.relations:
            if relation.entity and relation.entity not in entity_names:
                raise ValueError(
                    f"relation {relation.name!r} uses unknown entity {relation.entity!r}; entities: {sorted(entity_names)}"
                )
        unknown_traits = sorted(set(self.observed_traits) - set(trait_names))
        if unknown_traits:
            raise ValueError(f"observed_traits {unknown_traits} are not traits of the domain: {sorted(trait_names)}")
        rule = self.suitability
        if rule is not None and (rule.attribute not in attribute_names or rule.trait not in trait_names):
            raise ValueError(
                f"suitability compares attribute {rule.attribute!r} with trait {rule.trait!r}; "
                f"attributes: {sorted(attribute_names)}, traits: {sorted(trait_names)}"
            )
        if self.social is not None:
            authors = [e for e in self.entities if e.name == "author"]
            if authors and authors[0].count != self.social.members:
                raise ValueError(
                    f"authors are members of the social graph: the 'author' entity count ({authors[0].count}) "
                    f"must equal social.members ({self.social.members})"
                )
            if self.social.engaged_per_member > self.num_items:
                raise ValueError(
                    f"social.engaged_per_member ({self.social.engaged_per_member}) must be <= num_items ({self.num_items})"
                )

    @property
    def env_id(self) -> str:
        return f"recsim_meta/{self.env_name}-v0"

    def dynamics(self) -> UserDynamics:
        return UserDynamics(
            drift=self.interest_drift,
            pull=self.interest_pull,
            reversion=self.interest_reversion,
            fatigue_rate=self.fatigue_rate,
            fatigue_decay=self.fatigue_decay,
            satisfaction_rate=self.satisfaction_rate,
            budget_refund=self.budget_refund,
            no_click_cost=self.no_click_cost,
            traits=self.traits,
        )


ECOMMERCE = DomainConfig(
    name="ecommerce",
    env_name="Ecommerce",
    response="ecommerce",
    reward_description="revenue of purchases",
    long_horizon=(
        "Small: a purchase takes a step more of the 30-step budget than a look, and satisfying (high-quality) products refund time, so a planner favours quality a little over price."
    ),
    description=(
        "Shoppers with a price sensitivity (a latent trait) click products and buy some of them; "
        "complement / substitute / same-brand relations: a camera makes its lenses wanted and other cameras less."
    ),
    slate_size=4,
    attributes=(AttributeSpec("price", "lognormal", loc=np.log(30.0), scale=0.4, topic_scale=0.6),),
    entities=(EntitySpec("brand", 60),),
    relations=(
        RelationSpec("complement", "partner_topic", per_item=3, fusion_weight=1.0, boost=1.5),
        RelationSpec("substitute", "similar", per_item=3, fusion_weight=0.5, boost=-1.0),
        RelationSpec("same_brand", "shared_entity", per_item=2, fusion_weight=0.5, boost=0.3, entity="brand"),
    ),
    traits=(TraitSpec("price_sensitivity", mean=1.0, std=0.3, low=0.0, high=3.0),),
    popularity_quality_weight=3.0,  # popular because good: quality raises every shopper's chance to buy
    utility_terms=(UtilityTerm("price", "log", weight=-0.5, trait="price_sensitivity"),),
    time_budget=30.0,
    budget_refund=0.3,
)

VIDEO = DomainConfig(
    name="video",
    env_name="Video",
    response="video",
    reward_description="watch time in minutes",
    long_horizon=(
        "Watch time is both the reward and what the 60-minute budget pays; satisfying videos refund part of it and clickbait refunds nothing, so a planner picks shorter, better videos that keep the viewer longer (until the step cap)."
    ),
    description=(
        "Viewers watch part of a video (its length times their engagement); series (sequel) and "
        "same-creator relations; clickbait topics win clicks but drain the time budget."
    ),
    attributes=(AttributeSpec("length", "lognormal", loc=np.log(4.0), scale=0.4),),
    entities=(EntitySpec("series", 120), EntitySpec("creator", 40, topic_bound=False)),
    relations=(
        RelationSpec("sequel", "series", fusion_weight=1.0, boost=2.0, entity="series"),
        RelationSpec("same_creator", "shared_entity", per_item=2, fusion_weight=0.5, boost=0.3, entity="creator"),
    ),
    time_budget=60.0,
    budget_refund=0.4,
)

# RecSim's interest-evolution setting (``recsim.environments.interest_evolution``: its utility-model documents
# and users, the multinomial proportional choice): 20 one-hot topics of fixed mean quality from -3 (14 trashy
# topics) to 3 (6 nutritious ones), quality spread 0.1, 4-minute videos watched whole (up to the budget), 10
# candidates drawn uniformly, slates of 2 without position bias, users with interests U(-1, 1) that move
# toward or away from what they watch, a budget of 200 minutes that watch time spends and quality refunds
# (0.9 / 3.4 per minute per unit of quality), 0.5 lost per skipped slate; no knowledge graph, no fatigue.
VIDEO_INTEREST_EVOLUTION = dataclasses.replace(
    VIDEO,
    name="video_interest_evolution",
    env_name="VideoInterestEvolution",
    long_horizon=(
        "RecSim's: a video spends its length of the budget and refunds 0.26 x its quality per minute, so "
        "nutritious videos extend the session and trashy ones end it; the myopic oracle, which sees only the "
        "click, picks trashy videos the user likes and ends sessions early."
    ),
    response="recsim_video",
    description=(
        "RecSim's interest-evolution setting: 20 one-hot topics whose mean quality runs from -3 (14 trashy topics) "
        "to 3 (6 nutritious ones), 10 candidates, slates of 2, RecSim's multinomial proportional choice, "
        "4-minute videos watched whole, interests that move toward or away from what is watched, a time budget "
        "of 200 that watch time spends and quality refunds, 0.5 lost per skipped slate, no KG."
    ),
    num_items=2000,  # RecSim draws new documents every step: this many keep the catalogue's topic mix near uniform
    num_topics=20,
    embedding_dim=20,
    centroid_kind="onehot",
    item_spread=0.0,
    num_candidates=10,
    related_candidates=0,
    slate_size=2,
    entities=(),
    relations=(),
    kg_strength=0.0,
    popularity_quality_weight=0.5,
    clickbait_appeal=0.0,
    topic_quality_means=tuple(float(q) for q in np.concatenate([np.linspace(-3.0, 0.0, 14), np.linspace(0.0, 3.0, 6)])),
    quality_std=0.1,
    attributes=(AttributeSpec("length", "lognormal", loc=np.log(4.0), scale=0.0),),
    interest_distribution="uniform",
    interest_std=1.0,
    cohort_focus=0.0,
    interest_update="recsim",
    interest_pull=0.3,
    interest_drift=0.0,
    interest_reversion=0.0,
    fatigue_rate=0.0,
    choice_model="proportional",
    choice_temperature=1.0,
    no_click_utility=1.0,
    position_decay=0.0,
    time_budget=200.0,
    no_click_cost=0.5,
    budget_refund=0.9 / 3.4,
    satisfaction_rate=1.0,
    satisfaction_affinity=0.0,
    favourite_topics=1,
    max_episode_steps=500,
)

NEWS = DomainConfig(
    name="news",
    env_name="News",
    response="news",
    reward_description="1 per click + dwell minutes",
    long_horizon=(
        "Every click earns 1 while reading spends the 30-minute budget, so several short, fresh stories beat one long read; disappointed readers churn."
    ),
    description=(
        "Readers click stories and read them for a while (dwell); stories lose freshness with age "
        "(half-life 3 hours, and the session's own time counts), topics burst for a few steps "
        "(breaking news), follow-up stories continue a story and outlets publish across topics."
    ),
    attributes=(
        AttributeSpec("length", "lognormal", loc=np.log(3.0), scale=0.4),
        AttributeSpec("age", "uniform", loc=0.0, scale=720.0),  # minutes since publication at session start
    ),
    entities=(EntitySpec("story", 150), EntitySpec("outlet", 20, topic_bound=False)),
    relations=(
        RelationSpec("follow_up", "series", fusion_weight=1.0, boost=2.0, entity="story"),
        RelationSpec("same_outlet", "shared_entity", per_item=2, fusion_weight=0.3, boost=0.2, entity="outlet"),
    ),
    utility_terms=(UtilityTerm("age", "freshness", weight=1.5, scale=180.0),),
    burst_rate=0.1,
    churn_rate=0.05,
    time_budget=30.0,
    budget_refund=0.4,
)

SOCIAL = DomainConfig(
    name="social",
    env_name="Social",
    response="social",
    reward_description="engagement: like + 2 comment + 3 share",
    long_horizon=(
        "A comment takes 2 extra minutes of the 30-minute budget and satisfying (high-quality) posts refund time, so better posts keep users longer."
    ),
    description=(
        "A session's user is a member of a user-user social graph (small world, part of the task); posts "
        "are written by members, and posts that friends engaged with or wrote are more attractive "
        "(the observed candidate feature friends_engaged). Same-author and same-hashtag relations."
    ),
    entities=(EntitySpec("author", 300, topic_bound=False), EntitySpec("hashtag", 80)),
    relations=(
        RelationSpec("same_author", "shared_entity", per_item=2, fusion_weight=0.5, boost=0.5, entity="author"),
        RelationSpec("same_hashtag", "shared_entity", per_item=3, fusion_weight=0.5, boost=0.8, entity="hashtag"),
    ),
    social=SocialSpec(members=300, kind="small_world", degree=8, rewire=0.1, engaged_per_member=15, weight=1.5),
    time_budget=30.0,
    budget_refund=0.2,
)

GAME = DomainConfig(
    name="game",
    env_name="Game",
    response="game",
    reward_description="play minutes + 10 per in-game purchase",
    long_horizon=(
        "Play spends the budget and frustrated or bored players churn; the myopic choice of engaging, well-matched games already keeps players, so a planner gains little."
    ),
    description=(
        "Players pick games whose difficulty should match their skill (observed), which grows with play; "
        "a mismatch deters the click and frustrates the play, and frustrated or bored players churn. "
        "Sequel and DLC relations within a franchise, same-publisher relations."
    ),
    attributes=(
        AttributeSpec("difficulty", "normal", loc=0.0, scale=1.0, topic_scale=0.5),
        AttributeSpec("length", "lognormal", loc=np.log(20.0), scale=0.4),  # minutes of one play
    ),
    entities=(EntitySpec("franchise", 100), EntitySpec("publisher", 15, topic_bound=False)),
    relations=(
        RelationSpec("sequel", "series", fusion_weight=1.0, boost=1.5, entity="franchise"),
        RelationSpec("dlc", "shared_entity", per_item=1, fusion_weight=0.5, boost=2.0, entity="franchise"),
        RelationSpec("same_publisher", "shared_entity", per_item=2, fusion_weight=0.3, boost=0.3, entity="publisher"),
    ),
    traits=(TraitSpec("skill", mean=0.0, std=0.7, low=-3.0, high=3.0, growth=0.05),),
    observed_traits=("skill",),
    utility_terms=(UtilityTerm("difficulty", "mismatch", weight=-1.0, trait="skill", in_engagement=True),),
    churn_rate=0.1,
    time_budget=120.0,
    budget_refund=0.4,
)

FINANCE = DomainConfig(
    name="finance",
    env_name="Finance",
    response="finance",
    reward_description="risk-adjusted return (percent) minus suitability penalties",
    long_horizon=(
        "Each investment takes one step of the 30-step budget, which satisfying (higher-quality, less speculative) products refund: a planner trades some expected return now for a longer session."
    ),
    description=(
        "Savers with a risk tolerance (observed) pick products with a risk level (higher for speculative, "
        "low-quality products), an expected return and a volatility that rise with risk; showing a product whose risk exceeds the saver's tolerance by "
        "more than 0.2 costs 2 reward and is counted in info['unsuitable']. Correlated assets (same "
        "sector, same issuer) are less wanted once one is held; hedges are more wanted."
    ),
    attributes=(
        AttributeSpec("risk", "normal", loc=0.55, scale=0.1, topic_scale=0.1, base="quality", slope=-0.1),
        AttributeSpec("expected_return", "normal", loc=0.01, scale=0.005, base="risk", slope=0.06),
        AttributeSpec("volatility", "lognormal", loc=np.log(0.03), scale=0.15, base="risk", slope=1.5),
    ),
    entities=(EntitySpec("sector", 10), EntitySpec("issuer", 100)),
    relations=(
        RelationSpec("same_sector", "shared_entity", per_item=2, fusion_weight=0.5, boost=-1.0, entity="sector"),
        RelationSpec("same_issuer", "shared_entity", per_item=2, fusion_weight=1.0, boost=-2.0, entity="issuer"),
        RelationSpec("hedge", "partner_topic", per_item=2, fusion_weight=0.0, boost=2.0),
    ),
    traits=(TraitSpec("risk_tolerance", mean=0.5, std=0.2, low=0.05, high=1.0),),
    observed_traits=("risk_tolerance",),
    utility_terms=(UtilityTerm("risk", "mismatch", weight=-1.0, trait="risk_tolerance"),),
    suitability=SuitabilityRule("risk", "risk_tolerance", margin=0.2, penalty=2.0),
    time_budget=30.0,
    budget_refund=0.3,
)

PRESETS: dict[str, DomainConfig] = {
    preset.name: preset for preset in (ECOMMERCE, NEWS, VIDEO, SOCIAL, GAME, FINANCE, VIDEO_INTEREST_EVOLUTION)
}
DOMAINS: tuple[str, ...] = ("ecommerce", "news", "video", "social", "game", "finance")  # the six domains


def seed_of(text: str) -> int:
    """A stable integer seed for a name (a domain's): its CRC-32."""
    return zlib.crc32(text.encode())


def domain_variant(config: DomainConfig, variant: int) -> DomainConfig:
    """Procedural variant ``variant`` of a domain (0: the domain itself), for meta-training on domain shift.

    The catalogue's fields stay, so the items, their features and the KG are the domain's; what users
    want from them is redrawn around the domain's values, from ``variant`` and the domain's name: each
    utility term's weight (times U(0, 2)), the weights of affinity and quality in engagement, the choice
    temperature and the interest spread (times 2^U(-1, 1)), the weight of affinity in satisfaction
    (U(0, 1)), the no-click utility (plus U(-1, 1)), and the position decay, fatigue rate and KG
    strength (times U(0, 2)).
    """
    if variant == 0:
        return config
    rng = np.random.default_rng([variant, seed_of(config.name)])

    def factor() -> float:
        return float(2.0 ** rng.uniform(-1.0, 1.0))

    return dataclasses.replace(
        config,
        utility_terms=tuple(
            dataclasses.replace(term, weight=term.weight * float(rng.uniform(0.0, 2.0)))
            for term in config.utility_terms
        ),
        engagement_affinity=config.engagement_affinity * factor(),
        engagement_quality=config.engagement_quality * factor(),
        choice_temperature=config.choice_temperature * factor(),
        interest_std=config.interest_std * factor(),
        satisfaction_affinity=float(rng.uniform(0.0, 1.0)),
        no_click_utility=config.no_click_utility + float(rng.uniform(-1.0, 1.0)),
        position_decay=config.position_decay * float(rng.uniform(0.0, 2.0)),
        fatigue_rate=config.fatigue_rate * float(rng.uniform(0.0, 2.0)),
        kg_strength=config.kg_strength * float(rng.uniform(0.0, 2.0)),
    )


def config_overrides(config: DomainConfig) -> dict[str, object]:
    """The fields of ``config`` that differ from its preset's: what ``make_config(config.name, **them)`` needs."""
    preset = PRESETS[config.name]
    return {
        f.name: getattr(config, f.name)
        for f in dataclasses.fields(preset)
        if getattr(config, f.name) != getattr(preset, f.name)
    }


def make_config(domain: str, **overrides: object) -> DomainConfig:
    """The preset ``domain`` with ``overrides`` applied.

    Raises:
        ValueError: unknown domain, unknown override key, or an invalid value.
    """
    if domain not in PRESETS:
        raise ValueError(f"unknown domain {domain!r}; accepted: {', '.join(PRESETS)}")
    fields = {f.name for f in dataclasses.fields(DomainConfig)} - {"name", "env_name"}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(
            f"unknown config key(s) {unknown} for domain {domain!r}; accepted keys: {', '.join(sorted(fields))}"
        )
    return dataclasses.replace(PRESETS[domain], **overrides)
