"""What collection produces and the agents learn from: ``Rollout`` (steps of several task slots in time order)
and ``TaskState`` (a task's in-context memory and adapted parameters)."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch

from recsim_meta.agents.bert_recommender import PAD, RecommenderBatch


class TaskMemory:
    """The in-context memory of one task, ``size`` interactions of its earlier episodes as model tokens: the
    newest ones (``kind="recent"``), or the items its users clicked most (``kind="clicks"``: over all its
    episodes, ties to the most recent click; each with its clicks' mean response).

    ``recent`` carries the end of the last episode: with a memory shorter than a session, that is the user's
    final steps. ``clicks`` carries what the task's users chose, pooled over every episode it has seen.
    """

    KINDS = ("recent", "clicks")

    def __init__(self, size: int, kind: str = "recent") -> None:
        if kind not in self.KINDS:
            raise ValueError(f"unknown memory kind {kind!r}; accepted: {', '.join(self.KINDS)}")
        self.kind = kind
        self.tokens = np.full(size, PAD, dtype=np.int64)
        self.responses = np.zeros((size, 3), dtype=np.float32)
        self.clicks: dict[int, tuple[int, int, np.ndarray]] = {}  # token -> (clicks, last click, summed responses)
        self.seen = 0  # clicks recorded so far: the order of the last clicks

    def add_episode(self, tokens: np.ndarray, responses: np.ndarray) -> None:
        """Add an episode's interactions (tokens ``(T,)``, ``PAD`` entries skipped, and responses ``(T, 3)``, in
        time order)."""
        size = len(self.tokens)
        if size == 0:
            return
        kept = tokens != PAD
        if self.kind == "recent":
            self.tokens = np.concatenate([self.tokens, tokens[kept]])[-size:]
            self.responses = np.concatenate([self.responses, responses[kept]])[-size:]
            return
        for token, response in zip(tokens[kept], responses[kept], strict=True):
            if response[0] > 0:
                count, _, total = self.clicks.get(int(token), (0, 0, 0.0))
                self.seen += 1
                self.clicks[int(token)] = (count + 1, self.seen, total + response)
        top = sorted(self.clicks, key=lambda t: self.clicks[t][:2])[-size:]  # most clicked last
        self.tokens = np.full(size, PAD, dtype=np.int64)
        self.responses = np.zeros((size, 3), dtype=np.float32)
        if top:
            self.tokens[-len(top) :] = top
            self.responses[-len(top) :] = [self.clicks[t][2] / self.clicks[t][0] for t in top]


@dataclass
class TaskState:
    """What the agent knows of a task: its memory and its adapted head parameters (``None``: the base ones)."""

    memory: TaskMemory
    params: dict[str, torch.Tensor] | None = None


@dataclass
class Rollout:
    """Steps of several task slots, in time order: ``slot`` says whose task, ``user`` which of its users and
    ``episode`` which of the slot's episodes (unique per slot). Rewards are raw (domain units)."""

    batch: RecommenderBatch
    slot: np.ndarray
    episode: np.ndarray
    slate: torch.Tensor
    log_prob: torch.Tensor
    value: torch.Tensor
    reward: np.ndarray
    position: np.ndarray
    engagement: np.ndarray
    episode_end: np.ndarray
    user: np.ndarray

    def select(self, rows: np.ndarray) -> Rollout:
        index = torch.as_tensor(rows)
        return Rollout(
            batch=take_rows(self.batch, index),
            **{f.name: getattr(self, f.name)[rows] for f in fields(self) if f.name != "batch"},
        )

    def consumed_tokens(self) -> np.ndarray:
        """Per step, the token of the item the user consumed, or of the slate's first item without a click: the
        interaction the step adds to the user's history."""
        shown = torch.as_tensor(np.maximum(self.position, 0))[:, None]
        candidates = self.slate.gather(1, shown).to(self.batch.candidate_tokens.device)
        return self.batch.candidate_tokens.gather(1, candidates)[:, 0].cpu().numpy()

    def returns_per_episode(self) -> dict[tuple[int, int], float]:
        """Total reward of each ``(slot, episode)``."""
        totals: dict[tuple[int, int], float] = {}
        for slot, episode, reward in zip(self.slot, self.episode, self.reward, strict=True):
            totals[(int(slot), int(episode))] = totals.get((int(slot), int(episode)), 0.0) + float(reward)
        return totals


def take_rows(batch: RecommenderBatch, index: torch.Tensor) -> RecommenderBatch:
    return RecommenderBatch(**{f.name: _index(getattr(batch, f.name), index) for f in fields(batch)})


def _index(value: torch.Tensor | None, index: torch.Tensor) -> torch.Tensor | None:
    return None if value is None else value[index]


def _concat(batches: list[RecommenderBatch]) -> RecommenderBatch:
    return RecommenderBatch(**{f.name: torch.cat([getattr(b, f.name) for b in batches]) for f in fields(batches[0])})


def concat_rollouts(parts: list[Rollout]) -> Rollout:
    """One rollout of ``parts``, in order."""
    values = {}
    for field in fields(Rollout):
        items = [getattr(p, field.name) for p in parts]
        if field.name == "batch":
            values[field.name] = _concat(items)
        elif isinstance(items[0], torch.Tensor):
            values[field.name] = torch.cat(items)
        else:
            values[field.name] = np.concatenate(items)
    return Rollout(**values)
