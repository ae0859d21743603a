"""Offline next-item metrics on logged interactions: HR@k and NDCG@k, and the popularity reference."""

from __future__ import annotations

import numpy as np


def hit_rate_ndcg(scores: np.ndarray, targets: np.ndarray, k: int = 10) -> tuple[float, float]:
    """Mean HR@k and NDCG@k of ``targets`` ``(N,)`` (item indices) under ``scores`` ``(N, items)``.

    The rank counts items scored strictly higher than the target (ties favour the target, as each
    model's scores are continuous; popularity ties are broken by a tiny per-item jitter instead).
    """
    if len(targets) == 0:
        raise ValueError("no rows to evaluate")
    target_scores = scores[np.arange(len(targets)), targets]
    rank = (scores > target_scores[:, None]).sum(axis=1)
    hits = rank < k
    return float(hits.mean()), float(np.where(hits, 1.0 / np.log2(rank + 2), 0.0).mean())


def popularity_scores(train_items: np.ndarray, train_domains: np.ndarray, domains: np.ndarray, size: int) -> np.ndarray:
    """Click counts of each item in its domain's training rows, for rows of ``domains``, ``(N, size)``.

    A fixed jitter below one click breaks ties, so tied items do not all count as hits.
    """
    counts = np.zeros((int(max(train_domains.max(), domains.max())) + 1, size))
    clicked = train_items >= 0
    np.add.at(counts, (train_domains[clicked], train_items[clicked]), 1.0)
    jitter = np.random.default_rng(0).random(size) * 0.5
    return counts[domains] + jitter
