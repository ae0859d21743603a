"""From env observations to ``RecommenderBatch``es: the shared vocabulary and feature columns."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from recsim_meta.agents.bert_recommender import (
    FIRST_DOMAIN_TOKEN,
    PAD,
    UNKNOWN_DOMAIN,
    RecommenderBatch,
    RecommenderConfig,
)
from recsim_meta.envs import MultiDomainEnv, RecEnv


def domain_envs(env: gym.Env) -> dict[str, RecEnv]:
    """The single-domain envs behind ``env``: itself, or every domain of ``MultiDomain-v0``."""
    unwrapped = env.unwrapped
    if isinstance(unwrapped, MultiDomainEnv):
        return dict(unwrapped.envs)
    return {unwrapped.config.name: unwrapped}


def config_for_env(env: gym.Env, **sizes: Any) -> RecommenderConfig:
    """A ``RecommenderConfig`` covering ``env``'s domains, features and KG relations; ``sizes`` set the rest."""
    envs = domain_envs(env)
    unwrapped = env.unwrapped
    return RecommenderConfig(
        domains=tuple(envs),
        num_items=tuple(e.config.num_items for e in envs.values()),
        relations=tuple(f"{name}/{r}" for name, e in envs.items() for r in e.kg_relations),
        feature_names=tuple(unwrapped.feature_names),
        user_feature_names=tuple(unwrapped.user_feature_names),
        history_length=next(iter(envs.values())).config.history_length,
        **sizes,
    )


def kg_edges_for_env(env: gym.Env, config: RecommenderConfig) -> np.ndarray:
    """Every domain's KG item-item edges as ``(head token, relation id, tail token)`` rows."""
    rows = []
    for name, e in domain_envs(env).items():
        if name not in config.domains:
            continue
        edges = e.kg_edges()
        offset = config.item_offsets[config.domains.index(name)]
        relation_ids = np.array([config.relations.index(f"{name}/{r}") for r in e.kg_relations], dtype=np.int64)
        if len(edges):
            rows.append(np.stack([edges[:, 0] + offset, relation_ids[edges[:, 1]], edges[:, 2] + offset], axis=1))
    return np.concatenate(rows) if rows else np.zeros((0, 3), dtype=np.int64)


def item_features_for_env(env: gym.Env, config: RecommenderConfig) -> np.ndarray:
    """Every domain's catalogue features in the config's columns, one row per vocabulary token ``(V, F)``."""
    table = np.zeros((config.vocab_size, len(config.feature_names)), dtype=np.float32)
    for name, e in domain_envs(env).items():
        if name in config.domains:
            start = config.item_offsets[config.domains.index(name)]
            columns = column_positions(e.feature_names, config.feature_names, "feature")
            table[start : start + e.config.num_items, columns] = e.item_features()
    return table


def column_positions(names: tuple[str, ...], known: tuple[str, ...], kind: str) -> np.ndarray:
    """Where each of ``names`` sits among the model's ``known`` columns; unknown names raise ``ValueError``."""
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ValueError(f"the model has no {kind} column(s) {unknown}; its columns: {known}")
    return np.array([known.index(n) for n in names], dtype=np.int64)


class ArrayEncoder:
    """Model inputs from observation arrays of a source layout: its domains and feature columns.

    Shared by the env encoder and the log encoder. The source's domains must be in the model's
    vocabulary and its feature columns among the model's (matched by name).
    """

    def __init__(
        self,
        config: RecommenderConfig,
        domains: tuple[str, ...],
        feature_names: tuple[str, ...],
        user_feature_names: tuple[str, ...],
    ) -> None:
        missing = sorted(set(domains) - set(config.domains))
        if missing:
            raise ValueError(f"the model's vocabulary has no domain {missing}; its domains: {config.domains}")
        self.config = config
        self.domain_index = np.array([config.domains.index(d) for d in domains], dtype=np.int64)
        self.feature_columns = column_positions(feature_names, config.feature_names, "feature")
        self.user_columns = column_positions(user_feature_names, config.user_feature_names, "user feature")

    def encode(
        self,
        domain: np.ndarray,
        domain_visible: np.ndarray,
        history_ids: np.ndarray,
        history_responses: np.ndarray,
        candidate_ids: np.ndarray,
        candidate_features: np.ndarray,
        user_features: np.ndarray,
    ) -> RecommenderBatch:
        """Arrays with a leading batch axis ``B``; ``domain`` ``(B,)`` indexes the source's domains and
        places the local item ids in that domain's vocabulary block; ``domain_visible`` ``(B,)`` is False
        where the domain token must be hidden; features are in the source's columns."""
        config = self.config
        batch, m = candidate_ids.shape
        domain_index = self.domain_index[domain]
        offsets = np.asarray(config.item_offsets, dtype=np.int64)[domain_index]
        history = np.where(history_ids >= 0, history_ids + offsets[:, None], PAD)
        domain_tokens = np.where(domain_visible, FIRST_DOMAIN_TOKEN + domain_index, UNKNOWN_DOMAIN)
        features = np.zeros((batch, m, len(config.feature_names)), dtype=np.float32)
        features[:, :, self.feature_columns] = candidate_features.reshape(batch, m, -1)
        user = np.zeros((batch, len(config.user_feature_names)), dtype=np.float32)
        user[:, self.user_columns] = user_features
        return RecommenderBatch(
            domain_tokens=torch.as_tensor(domain_tokens, dtype=torch.long),
            history_tokens=torch.as_tensor(history, dtype=torch.long),
            history_responses=torch.as_tensor(history_responses.reshape(batch, -1, 3), dtype=torch.float32),
            candidate_tokens=torch.as_tensor(candidate_ids + offsets[:, None], dtype=torch.long),
            candidate_features=torch.as_tensor(features),
            user_features=torch.as_tensor(user),
        )


class ObservationEncoder:
    """Turns observations of ``env`` (one, or a batch with a leading axis) into model inputs.

    A domain env's feature columns are matched by name into the config's; ``MultiDomain-v0``'s
    observations already use its shared layout, and the domain token follows its indicator
    (``UNKNOWN_DOMAIN`` when hidden). Item ids name catalogue items, like real item ids, so the
    vocabulary block follows the env's current domain.
    """

    def __init__(self, config: RecommenderConfig, env: gym.Env) -> None:
        self.config = config
        self.env = env.unwrapped
        self.multi = isinstance(self.env, MultiDomainEnv)
        self.domains = tuple(domain_envs(env))
        self.arrays = ArrayEncoder(config, self.domains, self.env.feature_names, self.env.user_feature_names)

    def item_tokens(self, item_ids: np.ndarray, domain: str) -> np.ndarray:
        """The vocabulary tokens of ``domain``'s item ids (``PAD`` for ids below 0, as in histories)."""
        offset = self.config.item_offsets[self.config.domains.index(domain)]
        return np.where(item_ids >= 0, item_ids + offset, PAD)

    def encode(self, observation: dict[str, np.ndarray], domain: str | list[str] | None = None) -> RecommenderBatch:
        """Model inputs for ``observation`` (of the env's current domain unless ``domain`` is given: one for
        the batch, or one per row)."""
        domain = domain or self.env.config.name  # MultiDomain-v0: the current domain's config
        single = np.ndim(observation["candidate_ids"]) == 1
        obs = {k: (np.asarray(v)[None] if single else np.asarray(v)) for k, v in observation.items()}
        batch = len(obs["candidate_ids"])
        rows = [domain] * batch if isinstance(domain, str) else domain
        visible = obs["domain"].any(axis=1) if self.multi else np.ones(batch, dtype=bool)
        return self.arrays.encode(
            np.array([self.domains.index(d) for d in rows]),
            visible,
            obs["history_ids"],
            obs["history_responses"],
            obs["candidate_ids"],
            obs["candidate_features"],
            obs["user_features"],
        )
