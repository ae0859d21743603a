"""The item catalogue: latent vectors around topic centroids, quality, appeal, popularity, attributes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsim_meta.sim.validation import Range, check_choice, check_fields

ATTRIBUTE_DISTRIBUTIONS = ("lognormal", "normal", "uniform")
CENTROID_KINDS = ("gaussian", "onehot")


@dataclass(frozen=True)
class AttributeSpec:
    """How one observable item attribute (price, length, difficulty, ...) is drawn.

    Attributes:
        name: column name, e.g. ``"price"``.
        distribution: one of ``ATTRIBUTE_DISTRIBUTIONS``. ``lognormal`` draws
            ``exp(N(loc + topic_shift, scale))``; ``normal`` draws ``N(loc + topic_shift, scale)``;
            ``uniform`` draws ``U(loc, loc + scale)`` and ignores ``topic_scale``.
            ``loc`` also gets ``slope * base_value`` when the attribute has a ``base``.
        loc: location (for lognormal, of the log).
        scale: spread within a topic (0 gives a constant).
        topic_scale: spread of the per-topic shift of ``loc`` (cameras cost more than socks).
        base: an attribute drawn earlier, or ``"quality"``, that this one depends on linearly
            (volatility on risk; the risk of speculative, low-quality products), or "".
        slope: the dependence: ``slope * base_value`` is added to ``loc`` item by item.
    """

    name: str
    distribution: str
    loc: float
    scale: float
    topic_scale: float = 0.0
    base: str = ""
    slope: float = 0.0

    def __post_init__(self) -> None:
        ranges = {
            "loc": Range(-1e4, 1e4),
            "scale": Range(0, 1e4),
            "topic_scale": Range(0, 10),
            "slope": Range(-100, 100),
        }
        check_fields(self, ranges, f"attribute {self.name!r}: " if isinstance(self.name, str) else "attribute: ")
        check_choice(f"attribute {self.name!r}: distribution", self.distribution, ATTRIBUTE_DISTRIBUTIONS)
        if self.distribution == "lognormal" and not (abs(self.loc) <= 50 and self.scale <= 5):
            raise ValueError(
                f"attribute {self.name!r}: a lognormal needs |loc| <= 50 and scale <= 5 (finite values), "
                f"got {self.loc} and {self.scale}"
            )
        if self.slope and not self.base:
            raise ValueError(f"attribute {self.name!r}: slope needs a base attribute")


@dataclass(frozen=True)
class Catalog:
    """All items of one task. Arrays are indexed by item id ``0..num_items-1``.

    Attributes:
        vectors: latent item vectors ``v_i``, shape ``(N, d)``; never observed by agents.
        topics: topic of each item, shape ``(N,)``.
        centroids: topic centroids, shape ``(T, d)``.
        clickbait_topics: boolean mask of clickbait topics, shape ``(T,)``.
        topic_popularity: share of users who favour each topic (Zipf), shape ``(T,)``.
        quality: latent quality ``q_i`` (what a consumed item is worth), shape ``(N,)``.
        appeal: latent pre-click appeal (high for clickbait), shape ``(N,)``.
        popularity: Zipf popularity, probabilities summing to 1, shape ``(N,)``.
        attributes: observable domain attributes, each of shape ``(N,)``.
    """

    vectors: np.ndarray
    topics: np.ndarray
    centroids: np.ndarray
    clickbait_topics: np.ndarray
    topic_popularity: np.ndarray
    quality: np.ndarray
    appeal: np.ndarray
    popularity: np.ndarray
    attributes: dict[str, np.ndarray]

    @property
    def num_items(self) -> int:
        return len(self.topics)

    @property
    def num_topics(self) -> int:
        return len(self.centroids)


def topic_centroids(rng: np.random.Generator, num_topics: int, dim: int, kind: str) -> np.ndarray:
    """Topic centres: ``"onehot"`` (RecSim interest evolution, needs ``dim == num_topics``) or ``"gaussian"``."""
    if kind == "onehot":
        if dim != num_topics:
            raise ValueError(f"onehot centroids need embedding_dim == num_topics, got {dim} and {num_topics}")
        return np.eye(num_topics)
    if kind == "gaussian":
        centroids = rng.standard_normal((num_topics, dim))
        return centroids / np.linalg.norm(centroids, axis=1, keepdims=True)
    raise ValueError(f"unknown centroid kind {kind!r}; accepted: onehot, gaussian")


def draw_attributes(
    rng: np.random.Generator,
    specs: tuple[AttributeSpec, ...],
    topics: np.ndarray,
    num_topics: int,
    quality: np.ndarray,
) -> dict[str, np.ndarray]:
    """Draw the attribute columns in order (a ``base`` must be ``quality`` or come before the attributes using it)."""
    n = len(topics)
    columns: dict[str, np.ndarray] = {}
    for spec in specs:
        bases = {"quality": quality, **columns}
        if spec.base and spec.base not in bases:
            raise ValueError(
                f"attribute {spec.name!r} depends on {spec.base!r}, which is neither quality nor among the "
                f"attributes before it: {', '.join(columns) or 'none'}"
            )
        loc = spec.loc + (spec.slope * bases[spec.base] if spec.base else 0.0)
        if spec.distribution == "uniform":
            columns[spec.name] = loc + spec.scale * rng.random(n)
            continue
        shift = spec.topic_scale * rng.standard_normal(num_topics)
        values = loc + shift[topics] + spec.scale * rng.standard_normal(n)
        columns[spec.name] = np.exp(values) if spec.distribution == "lognormal" else values
    return columns


def zipf_popularity(rng: np.random.Generator, merit: np.ndarray, exponent: float, noise: float) -> np.ndarray:
    """Zipf popularity whose ranks follow ``merit`` plus noise: better-liked items tend to be popular."""
    order = np.argsort(-(merit + noise * rng.standard_normal(len(merit))))
    ranks = np.empty(len(merit))
    ranks[order] = np.arange(1, len(merit) + 1)
    weights = ranks**-exponent
    return weights / weights.sum()


def make_catalog(
    rng: np.random.Generator,
    *,
    num_items: int,
    num_topics: int,
    dim: int,
    centroid_kind: str = "gaussian",
    item_spread: float = 0.3,
    clickbait_fraction: float = 0.2,
    clickbait_appeal: float = 1.0,
    quality_mean: float = 1.0,
    clickbait_quality_mean: float = -1.0,
    topic_quality_spread: float = 0.3,
    quality_std: float = 0.5,
    zipf_exponent: float = 1.0,
    popularity_noise: float = 1.0,
    popularity_quality_weight: float = 0.5,
    attributes: tuple[AttributeSpec, ...] = (),
    topic_quality_means: tuple[float, ...] = (),
) -> Catalog:
    """Draw a catalogue: ``v_i ~ N(c_topic(i), item_spread^2 I)``, clickbait topics with high appeal and low quality.

    Topics have a Zipf popularity (the share of users who favour them); item popularity follows the
    topic's, the item's appeal and its quality, loosely.

    Args:
        rng: the only source of randomness.
        num_items: N.
        num_topics: T.
        dim: latent dimension d.
        centroid_kind: ``"gaussian"`` (unit-norm random centres) or ``"onehot"``.
        item_spread: standard deviation of items around their topic centroid.
        clickbait_fraction: share of topics that are clickbait (at least one when > 0).
        clickbait_appeal: extra pre-click utility of clickbait items.
        quality_mean: mean quality of ordinary topics.
        clickbait_quality_mean: mean quality of clickbait topics.
        topic_quality_spread: spread of per-topic mean quality.
        quality_std: spread of item quality within a topic.
        zipf_exponent: Zipf exponent of popularity.
        popularity_noise: how loosely popularity follows its merit
            ``log topic_popularity + appeal + w * quality``.
        popularity_quality_weight: ``w``, how much quality (not just appeal) makes items popular.
        attributes: observable attributes to draw.
        topic_quality_means: each topic's mean quality, given (RecSim's clusters, from trashy to nutritious)
            instead of drawn; the topics of negative mean are then the clickbait ones.
    """
    centroids = topic_centroids(rng, num_topics, dim, centroid_kind)
    num_clickbait = int(np.ceil(clickbait_fraction * num_topics)) if clickbait_fraction > 0 else 0
    clickbait = np.zeros(num_topics, dtype=bool)
    clickbait[rng.permutation(num_topics)[:num_clickbait]] = True
    topics = rng.integers(0, num_topics, num_items)
    vectors = centroids[topics] + item_spread * rng.standard_normal((num_items, dim))
    topic_quality = np.where(clickbait, clickbait_quality_mean, quality_mean)
    topic_quality = topic_quality + topic_quality_spread * rng.standard_normal(num_topics)
    if topic_quality_means:
        topic_quality = np.asarray(topic_quality_means, dtype=np.float64)
        clickbait = topic_quality < 0
    quality = topic_quality[topics] + quality_std * rng.standard_normal(num_items)
    appeal = np.where(clickbait[topics], clickbait_appeal, 0.0)
    topic_popularity = zipf_popularity(rng, np.zeros(num_topics), zipf_exponent, 1.0)
    merit = np.log(topic_popularity[topics]) + appeal + popularity_quality_weight * quality
    popularity = zipf_popularity(rng, merit, zipf_exponent, popularity_noise)
    columns = draw_attributes(rng, attributes, topics, num_topics, quality)
    return Catalog(vectors, topics, centroids, clickbait, topic_popularity, quality, appeal, popularity, columns)
