"""Typed knowledge graph of items and entities (networkx), KG fusion of item vectors, KG boosts.

The graph holds item nodes ``("item", i)`` and entity nodes ``(entity_type, j)``. Items point to their
entities (``has_brand``, ``has_series``, ...) and to each other through typed relations (complement,
substitute, sequel, ...). The item-item relations act on users in two ways:

* fusion: the vector a user reacts to is ``v~_i = v_i + alpha * sum_j lambda_r(ij) * w_ij * v_j / deg(i)``;
* boosts: consuming ``i`` raises (or lowers) the utility of its related items for a while.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

from recsim_meta.sim.validation import Range, check_choice, check_fields

RELATION_PATTERNS = ("series", "partner_topic", "similar", "shared_entity")


@dataclass(frozen=True)
class EntitySpec:
    """A kind of entity every item has one of (brand, series, author, ...).

    Attributes:
        name: entity type, e.g. ``"brand"``.
        count: number of entities of this type.
        topic_bound: entities belong to topics (a brand makes cameras), else items pick any.
    """

    name: str
    count: int
    topic_bound: bool = True

    def __post_init__(self) -> None:
        check_fields(self, {"count": Range(1, 100_000)}, "entity: ")


@dataclass(frozen=True)
class RelationSpec:
    """A typed item-item relation and how it is generated.

    Attributes:
        name: relation type, e.g. ``"complement"``.
        pattern: how edges are drawn, one of ``RELATION_PATTERNS``:
            ``series`` links each item to the next item of its ``entity`` (episode 1 -> episode 2);
            ``partner_topic`` links to random items of a partner topic (camera -> lens);
            ``similar`` links to the nearest items of the same topic (substitutes);
            ``shared_entity`` links to random items with the same ``entity`` (same author).
        per_item: out-edges per item (not used by ``series``).
        fusion_weight: ``lambda_r`` in the KG fusion.
        boost: utility added to the tail for a user who just consumed the head (negative: less wanted).
        entity: the grouping entity type for ``series`` and ``shared_entity``.
    """

    name: str
    pattern: str
    per_item: int = 1
    fusion_weight: float = 1.0
    boost: float = 0.0
    entity: str = ""

    def __post_init__(self) -> None:
        ranges = {"per_item": Range(0, 100), "fusion_weight": Range(-10, 10), "boost": Range(-10, 10)}
        check_fields(self, ranges, "relation: ")
        check_choice(f"relation {self.name!r}: pattern", self.pattern, RELATION_PATTERNS)
        if self.pattern in ("series", "shared_entity") and not self.entity:
            raise ValueError(f"relation {self.name!r}: pattern {self.pattern!r} needs an entity type")


@dataclass(frozen=True)
class KnowledgeGraph:
    """The KG of one catalogue.

    Attributes:
        graph: networkx MultiDiGraph of items and entities; edge key = relation name, attribute ``weight``.
        relations: relation names; ``relation_ids`` index into it.
        heads: head item of each item-item edge, shape ``(E,)``.
        tails: tail item of each item-item edge, shape ``(E,)``.
        relation_ids: relation of each edge, shape ``(E,)``.
        weights: edge weights ``w_ij`` in [0.5, 1], shape ``(E,)``.
        entities: for each entity type, the entity id of every item, shape ``(N,)``.
    """

    graph: nx.MultiDiGraph
    relations: tuple[str, ...]
    heads: np.ndarray
    tails: np.ndarray
    relation_ids: np.ndarray
    weights: np.ndarray
    entities: dict[str, np.ndarray]

    def edge_list(self) -> np.ndarray:
        """Item-item edges as an ``(E, 3)`` int64 array of ``(head, relation_id, tail)``."""
        return np.stack([self.heads, self.relation_ids, self.tails], axis=1).astype(np.int64)

    def neighbour_table(self, num_items: int) -> tuple[np.ndarray, np.ndarray]:
        """Out-neighbours of every item as an ``(N, max_degree)`` table padded with -1, and the degrees."""
        degree, (table,) = padded_rows(self.heads, num_items, self.tails)
        return table, degree


def padded_rows(rows: np.ndarray, num_rows: int, *values: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Each array of ``values`` grouped by ``rows`` (in their order) into a ``(num_rows, W)`` table padded
    with -1, ``W`` the largest group (at least 1); also the group sizes ``(num_rows,)``."""
    counts = np.bincount(rows, minlength=num_rows)
    order = np.argsort(rows, kind="stable")
    slots = np.arange(len(order)) - (np.cumsum(counts) - counts)[rows[order]]
    width = max(int(counts.max(initial=0)), 1)
    tables = []
    for value in values:
        table = np.full((num_rows, width), -1, dtype=value.dtype)
        table[rows[order], slots] = value[order]
        tables.append(table)
    return counts, tables


def nonzero_rows(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The nonzero entries of each row of ``matrix``: their columns ``(N, W)`` and values ``(N, W)`` (-1 pads)."""
    rows, columns = np.nonzero(matrix)
    _, (table, values) = padded_rows(rows, len(matrix), columns, matrix[rows, columns])
    return table, values


def assign_entities(rng: np.random.Generator, spec: EntitySpec, topics: np.ndarray, num_topics: int) -> np.ndarray:
    """Entity id of every item; a topic-bound entity ``e`` serves topic ``e % num_topics``."""
    if not spec.topic_bound:
        return rng.integers(0, spec.count, len(topics))
    per_topic = max(spec.count // num_topics, 1)
    return (topics + num_topics * rng.integers(0, per_topic, len(topics))) % spec.count


def _relation_edges(
    rng: np.random.Generator,
    spec: RelationSpec,
    vectors: np.ndarray,
    topics: np.ndarray,
    num_topics: int,
    entities: dict[str, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Heads and tails of one relation's edges (no self loops)."""
    heads: list[np.ndarray] = []
    tails: list[np.ndarray] = []
    if spec.pattern == "series":
        groups = entities[spec.entity]
        order = np.lexsort((np.arange(len(groups)), groups))
        same = groups[order[:-1]] == groups[order[1:]]
        return order[:-1][same], order[1:][same]
    if spec.pattern == "partner_topic":
        order = rng.permutation(num_topics)  # one random cycle: no topic is its own partner
        partner = np.empty(num_topics, dtype=np.int64)
        partner[order] = np.roll(order, -1)
        members = [np.flatnonzero(topics == t) for t in range(num_topics)]
        for item, topic in enumerate(topics):
            pool = members[partner[topic]]
            pool = pool[pool != item]
            if len(pool) and spec.per_item:
                chosen = rng.choice(pool, size=min(spec.per_item, len(pool)), replace=False)
                heads.append(np.full(len(chosen), item))
                tails.append(chosen)
    elif spec.pattern == "similar":
        for topic in range(num_topics):
            members = np.flatnonzero(topics == topic)
            k = min(spec.per_item, len(members) - 1)
            if k <= 0:
                continue
            dist = np.linalg.norm(vectors[members, None] - vectors[None, members], axis=-1)
            np.fill_diagonal(dist, np.inf)
            nearest = np.argsort(dist, axis=1)[:, :k]
            heads.append(np.repeat(members, k))
            tails.append(members[nearest].ravel())
    else:  # shared_entity
        groups = entities[spec.entity]
        for item, group in enumerate(groups):
            pool = np.flatnonzero(groups == group)
            pool = pool[pool != item]
            if len(pool) and spec.per_item:
                chosen = rng.choice(pool, size=min(spec.per_item, len(pool)), replace=False)
                heads.append(np.full(len(chosen), item))
                tails.append(chosen)
    if not heads:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(heads), np.concatenate(tails)


def make_knowledge_graph(
    rng: np.random.Generator,
    vectors: np.ndarray,
    topics: np.ndarray,
    num_topics: int,
    entity_specs: tuple[EntitySpec, ...],
    relation_specs: tuple[RelationSpec, ...],
) -> KnowledgeGraph:
    """Draw entities and typed relations for a catalogue and build the networkx graph."""
    entities = {spec.name: assign_entities(rng, spec, topics, num_topics) for spec in entity_specs}
    for spec in relation_specs:
        if spec.entity and spec.entity not in entities:
            raise ValueError(
                f"relation {spec.name!r} groups by entity {spec.entity!r}, which is not among the "
                f"entity types: {', '.join(entities) or 'none'}"
            )
    parts = [_relation_edges(rng, spec, vectors, topics, num_topics, entities) for spec in relation_specs]
    empty = [np.zeros(0, np.int64)]
    heads = np.concatenate([h for h, _ in parts] + empty).astype(np.int64)
    tails = np.concatenate([t for _, t in parts] + empty).astype(np.int64)
    relation_ids = np.concatenate([np.full(len(h), r) for r, (h, _) in enumerate(parts)] + empty).astype(np.int64)
    weights = rng.uniform(0.5, 1.0, len(heads))
    relations = tuple(spec.name for spec in relation_specs)

    graph = nx.MultiDiGraph()
    graph.add_nodes_from((("item", i), {"topic": int(t)}) for i, t in enumerate(topics))
    for name, ids in entities.items():
        graph.add_edges_from(((("item", i), (name, int(e)), f"has_{name}") for i, e in enumerate(ids)), weight=1.0)
    graph.add_edges_from(
        (("item", int(h)), ("item", int(t)), relations[r], {"weight": float(w)})
        for h, t, r, w in zip(heads, tails, relation_ids, weights, strict=True)
    )
    return KnowledgeGraph(graph, relations, heads, tails, relation_ids, weights, entities)


def fuse_vectors(vectors: np.ndarray, kg: KnowledgeGraph, alpha: float, fusion_weights: np.ndarray) -> np.ndarray:
    """KG fusion ``v~_i = v_i + alpha * sum_j lambda_r(ij) * w_ij * v_j / deg(i)`` (out-degree normalised)."""
    if alpha == 0 or len(kg.heads) == 0:
        return vectors.copy()
    degree = np.bincount(kg.heads, minlength=len(vectors))
    coef = fusion_weights[kg.relation_ids] * kg.weights / degree[kg.heads]
    neighbours = np.zeros_like(vectors)
    np.add.at(neighbours, kg.heads, coef[:, None] * vectors[kg.tails])
    return vectors + alpha * neighbours


def boost_matrix(kg: KnowledgeGraph, num_items: int, boosts: np.ndarray) -> np.ndarray:
    """Dense ``(N, N)`` float32 matrix: utility added to item ``j`` right after consuming item ``i``."""
    matrix = np.zeros((num_items, num_items), dtype=np.float32)
    np.add.at(matrix, (kg.heads, kg.tails), (boosts[kg.relation_ids] * kg.weights).astype(np.float32))
    return matrix
