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
        missing = sorted(set(domain_envs(env)) - set(config.domains))
        if missing:
            raise ValueError(f"the model's vocabulary has no domain {missing}; its domains: {config.domains}")
        self.feature_columns = self._columns(self.env.feature_names, config.feature_names, "feature")
        self.user_columns = self._columns(self.env.user_feature_names, config.user_feature_names, "user feature")

    @staticmethod
    def _columns(names: tuple[str, ...], known: tuple[str, ...], kind: str) -> np.ndarray:
        unknown = sorted(set(names) - set(known))
        if unknown:
            raise ValueError(f"the model has no {kind} column(s) {unknown}; its columns: {known}")
        return np.array([known.index(n) for n in names], dtype=np.int64)

    def current_domain(self) -> str:
        return self.env.domain if self.multi else self.env.config.name

    def encode(self, observation: dict[str, np.ndarray], domain: str | None = None) -> RecommenderBatch:
        """Model inputs for ``observation`` (of the env's current domain unless ``domain`` is given)."""
        domain = domain or self.current_domain()
        single = np.ndim(observation["candidate_ids"]) == 1
        obs = {k: (np.asarray(v)[None] if single else np.asarray(v)) for k, v in observation.items()}
        batch, m = obs["candidate_ids"].shape
        h = obs["history_ids"].shape[1]
        offset = self.config.item_offsets[self.config.domains.index(domain)]
        history = np.where(obs["history_ids"] >= 0, obs["history_ids"] + offset, PAD)
        features = np.zeros((batch, m, len(self.config.feature_names)), dtype=np.float32)
        features[:, :, self.feature_columns] = obs["candidate_features"].reshape(batch, m, -1)
        user = np.zeros((batch, len(self.config.user_feature_names)), dtype=np.float32)
        user[:, self.user_columns] = obs["user_features"]
        if self.multi and not obs["domain"].any():
            domain_token = UNKNOWN_DOMAIN
        else:
            domain_token = FIRST_DOMAIN_TOKEN + self.config.domains.index(domain)
        return RecommenderBatch(
            domain_tokens=torch.full((batch,), domain_token, dtype=torch.long),
            history_tokens=torch.as_tensor(history, dtype=torch.long),
            history_responses=torch.as_tensor(obs["history_responses"].reshape(batch, h, 3), dtype=torch.float32),
            candidate_tokens=torch.as_tensor(obs["candidate_ids"] + offset, dtype=torch.long),
            candidate_features=torch.as_tensor(features),
            user_features=torch.as_tensor(user),
        )
