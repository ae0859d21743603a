"""A user-user social graph (networkx) and the social signal it puts on items.

The members of a task's user population are the nodes; items are authored by members, and every
member has engaged with a few items it liked. A session's user is a member: items its friends engaged
with or wrote are worth more to it (social proof), by ``weight`` times the friend signal

``signal[u, i] = log(1 + friends of u who engaged with i) + [a friend of u wrote i]``:

the first friend counts most (social proof saturates).
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

from recsim_meta.sim.validation import UNIT, Range, check_choice, check_fields

GRAPH_KINDS = ("small_world", "preferential")


@dataclass(frozen=True)
class SocialSpec:
    """How a task's social graph is drawn.

    Attributes:
        members: number of users in the graph (the population sessions are drawn from).
        kind: ``small_world`` (Watts-Strogatz, ``degree`` neighbours, ``rewire`` probability) or
            ``preferential`` (Barabasi-Albert, ``degree // 2`` edges per new member).
        degree: mean number of friends.
        rewire: rewiring probability of the small-world graph.
        engaged_per_member: items each member has engaged with.
        weight: utility of the friend signal.
    """

    members: int = 300
    kind: str = "small_world"
    degree: int = 8
    rewire: float = 0.1
    engaged_per_member: int = 10
    weight: float = 1.0

    def __post_init__(self) -> None:
        ranges = {
            "members": Range(3, 10_000),
            "degree": Range(2, 10_000),
            "rewire": UNIT,
            "engaged_per_member": Range(0, 4096),
            "weight": Range(-10, 10),
        }
        check_fields(self, ranges, "social.")
        check_choice("social graph kind", self.kind, GRAPH_KINDS)
        if not self.degree < self.members:
            raise ValueError(f"social degree must be in [2, members={self.members}), got {self.degree}")


@dataclass(frozen=True)
class SocialGraph:
    """A task's social graph.

    Attributes:
        graph: networkx Graph of members ``0..P-1``.
        engaged: items each member engaged with, ``(P, N)`` bool.
        authors: the member who wrote each item, ``(N,)``.
        signal: friend signal of every item for every member, ``(P, N)`` float32.
    """

    graph: nx.Graph
    engaged: np.ndarray
    authors: np.ndarray
    signal: np.ndarray


def make_social_graph(
    rng: np.random.Generator,
    spec: SocialSpec,
    item_vectors: np.ndarray,
    authors: np.ndarray,
    interest_mean: np.ndarray,
    interest_std: float,
) -> SocialGraph:
    """Draw the graph and what its members engaged with (each member's top items by interest, with noise)."""
    seed = int(rng.integers(2**31))
    if spec.kind == "small_world":
        graph = nx.connected_watts_strogatz_graph(spec.members, spec.degree, spec.rewire, seed=seed)
    else:
        graph = nx.barabasi_albert_graph(spec.members, max(spec.degree // 2, 1), seed=seed)
    adjacency = nx.to_numpy_array(graph, nodelist=range(spec.members), dtype=np.float32)
    interests = interest_mean + interest_std * rng.standard_normal((spec.members, item_vectors.shape[1]))
    scores = interests @ item_vectors.T + rng.gumbel(size=(spec.members, len(item_vectors)))
    engaged = np.zeros(scores.shape, dtype=bool)
    if spec.engaged_per_member:
        top = np.argpartition(-scores, spec.engaged_per_member - 1, axis=1)[:, : spec.engaged_per_member]
        np.put_along_axis(engaged, top, True, axis=1)
    signal = np.log1p(adjacency @ engaged.astype(np.float32)) + adjacency[:, authors]
    return SocialGraph(graph, engaged, authors, signal.astype(np.float32))
