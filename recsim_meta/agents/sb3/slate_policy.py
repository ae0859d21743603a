"""A slate policy for stable-baselines3: one shared network scores every candidate.

A flat ``MultiInputPolicy`` must learn the same scoring for each of the M candidate positions separately.
``CandidateScorer`` scores them all with one network (deep sets: permutation-equivariant over candidates):
each candidate's features together with the user and history context, then with the mean of all candidates'
embeddings, give per-candidate outputs. ``SlatePolicy`` (PPO, A2C) reads them as per-slot logits of the
``MultiDiscrete`` slate (``Discrete`` with one slot) and takes the value from the pooled candidates and the
context; ``SlateDQNPolicy`` (DQN, ``slate_size=1``) reads them as one Q-value per candidate. Both are SB3
policies: pass the class as ``policy`` (``PPO(SlatePolicy, env)``), with ``policy_kwargs={"hidden_size": 64}``;
SB3 saves and loads them as usual.
"""

from __future__ import annotations

from typing import Any

import torch
from gymnasium import spaces
from stable_baselines3.common.policies import MultiInputActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.dqn.policies import MultiInputPolicy as DQNMultiInputPolicy
from stable_baselines3.dqn.policies import QNetwork
from torch import nn

CONTEXT_KEYS = ("user_features", "history_responses", "domain")  # "domain": MultiDomain-v0's indicator


def slots_of(action_space: spaces.Space) -> int:
    """The slate size of an env's action space: 1 for ``Discrete``, K for ``MultiDiscrete([M] * K)``."""
    if isinstance(action_space, spaces.Discrete):
        return 1
    if isinstance(action_space, spaces.MultiDiscrete) and len(set(action_space.nvec.tolist())) == 1:
        return len(action_space.nvec)
    raise ValueError(f"a slate policy needs Discrete(M) or MultiDiscrete([M] * K) actions, got {action_space}")


def squash(values: torch.Tensor) -> torch.Tensor:
    """``sign(x) log(1 + |x|)``: rewards and counts of any scale into a range a network learns from."""
    return torch.sign(values) * torch.log1p(values.abs())


class CandidateScorer(BaseFeaturesExtractor):
    """Per-candidate outputs from one shared network, then (``value_features``) pooled features for a value.

    The features are ``outputs_per_candidate`` values per candidate, slot-major (slot 0's score of every
    candidate, then slot 1's, ...), followed when ``value_features`` by ``2 * hidden_size`` features: the mean of
    the candidates' embeddings and the context's.
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        outputs_per_candidate: int = 1,
        hidden_size: int = 64,
        value_features: bool = True,
    ) -> None:
        candidates = observation_space["candidate_ids"].shape[0]
        width = observation_space["candidate_features"].shape[0] // candidates
        context = sum(observation_space[key].shape[0] for key in CONTEXT_KEYS if key in observation_space.spaces)
        features = candidates * outputs_per_candidate + (2 * hidden_size if value_features else 0)
        super().__init__(observation_space, features)
        self.candidates, self.width, self.outputs = candidates, width, outputs_per_candidate
        self.value_features = value_features
        self.context_keys = [key for key in CONTEXT_KEYS if key in observation_space.spaces]
        self.context = nn.Sequential(nn.Linear(context, hidden_size), nn.ReLU())
        # A linear layer of [candidate, context] is one of the candidate plus one of the context: the context's
        # part is computed once per observation, not once per candidate (likewise the pooled embedding's).
        self.embed_candidate = nn.Linear(width, hidden_size)
        self.embed_context = nn.Linear(hidden_size, hidden_size, bias=False)
        self.mix_candidate = nn.Linear(hidden_size, hidden_size)
        self.mix_pooled = nn.Linear(hidden_size, hidden_size, bias=False)
        self.score = nn.Linear(hidden_size, outputs_per_candidate)

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        batch = observations["candidate_features"].shape[0]
        candidates = observations["candidate_features"].reshape(batch, self.candidates, self.width)
        context = self.context(squash(torch.cat([observations[key] for key in self.context_keys], dim=1)))
        embedded = torch.relu(self.embed_candidate(candidates) + self.embed_context(context)[:, None, :])
        pooled = embedded.mean(dim=1)
        mixed = torch.relu(self.mix_candidate(embedded) + self.mix_pooled(pooled)[:, None, :])
        scores = self.score(mixed).transpose(1, 2).reshape(batch, self.outputs * self.candidates)
        if not self.value_features:
            return scores
        return torch.cat([scores, mixed.mean(dim=1), context], dim=1)


class SlateHeads(nn.Module):
    """SB3's ``mlp_extractor`` for ``SlatePolicy``: the actor's latent is the candidates' logits as they are, the
    critic's a small MLP of the pooled features."""

    def __init__(self, logits: int, pooled: int, hidden_size: int) -> None:
        super().__init__()
        self.logits = logits
        self.latent_dim_pi, self.latent_dim_vf = logits, hidden_size
        self.critic = nn.Sequential(nn.Linear(pooled, hidden_size), nn.ReLU())

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward_actor(features), self.forward_critic(features)

    def forward_actor(self, features: torch.Tensor) -> torch.Tensor:
        return features[:, : self.logits]

    def forward_critic(self, features: torch.Tensor) -> torch.Tensor:
        return self.critic(features[:, self.logits :])


class SlatePolicy(MultiInputActorCriticPolicy):
    """An actor-critic policy (PPO, A2C) whose logits for each slot of the slate are one shared network's scores of
    the candidates (``CandidateScorer``); ``hidden_size`` sets its width."""

    def __init__(self, observation_space: spaces.Dict, action_space: spaces.Space, lr_schedule, **kwargs: Any) -> None:
        self.hidden_size = kwargs.pop("hidden_size", 64)
        kwargs["features_extractor_class"] = CandidateScorer
        kwargs["features_extractor_kwargs"] = {
            "outputs_per_candidate": slots_of(action_space),
            "hidden_size": self.hidden_size,
        }
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)

    def _build_mlp_extractor(self) -> None:
        extractor = self.features_extractor
        logits = extractor.candidates * extractor.outputs
        self.mlp_extractor = SlateHeads(logits, self.features_dim - logits, self.hidden_size)

    def _build(self, lr_schedule) -> None:
        super()._build(lr_schedule)
        self.action_net = nn.Identity()  # the scorer's outputs are the logits already
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        parameters = super()._get_constructor_parameters()
        for key in ("features_extractor_class", "features_extractor_kwargs"):
            parameters.pop(key, None)
        return {**parameters, "hidden_size": self.hidden_size}


class SlateDQNPolicy(DQNMultiInputPolicy):
    """DQN's policy for ``slate_size=1``: one Q-value per candidate from one shared network (``CandidateScorer``);
    ``hidden_size`` sets its width."""

    def __init__(
        self, observation_space: spaces.Dict, action_space: spaces.Discrete, lr_schedule, **kwargs: Any
    ) -> None:
        self.hidden_size = kwargs.pop("hidden_size", 64)
        kwargs["features_extractor_class"] = CandidateScorer
        kwargs["features_extractor_kwargs"] = {"hidden_size": self.hidden_size, "value_features": False}
        kwargs["net_arch"] = []
        slots_of(action_space)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)

    def make_q_net(self) -> QNetwork:
        q_net = super().make_q_net()
        q_net.q_net = nn.Identity()  # the scorer's outputs are the Q-values already
        return q_net.to(self.device)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        parameters = super()._get_constructor_parameters()
        for key in ("features_extractor_class", "features_extractor_kwargs", "net_arch"):
            parameters.pop(key, None)
        return {**parameters, "hidden_size": self.hidden_size}
