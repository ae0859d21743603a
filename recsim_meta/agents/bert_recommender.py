"""``BertRecommender``: a Hugging Face ``BertModel`` over interaction histories, with KG-fused item embeddings.

The input sequence of a user is ``[domain token] + the last H interactions`` (``+ the last C interactions
of the task's earlier episodes`` for the meta-RL agent's memory, ``context_length``); an interaction token is
the item's (KG-fused) embedding plus a projection of its response, and its token type says whether
it was clicked (2), shown and skipped (1) or is padding / the domain token (0). The domain token's
output, plus a projection of the observed user features, is the user state ``u``. Each candidate is
``c = e~_item + W x_features``; a head on ``[u, c, u * c]`` gives its policy score, CTR logit,
rating (engagement) and choice logit, and a head on ``u`` the value.

An item's embedding ``e_i`` is its id embedding plus a projection of its catalogue features (topic,
popularity, attributes), so items seen rarely in the logs still have a meaningful embedding. Item
embeddings are fused over the knowledge graph, ``e~_i = e_i + alpha * sum_j lambda_r(ij) e_j / deg(i)``,
with learned ``alpha`` and relation weights ``lambda_r``, from the edge lists the envs expose.

The vocabulary spans domains: ``PAD``, ``MASK``, an unknown-domain token, one token per domain, then
every domain's items in a block of its own (``item_token``), so one model serves every domain.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F
from transformers import BertConfig, BertModel

PAD, MASK, UNKNOWN_DOMAIN = 0, 1, 2
FIRST_DOMAIN_TOKEN = 3
LOSSES = ("mlm", "ctr", "rating", "ranking", "reward")
HEAD_MODULES = ("user_projection", "feature_projection", "candidate_head", "value_head")  # applied after the encoder


@dataclass(frozen=True)
class RecommenderConfig:
    """Sizes and layout of a ``BertRecommender`` (saved as JSON next to the weights).

    Attributes:
        domains: domain names, in the order of their vocabulary blocks.
        num_items: catalogue size of each domain.
        relations: KG relation names as ``"domain/relation"``.
        feature_names: candidate feature columns (a domain's own columns are matched by name).
        user_feature_names: user feature columns, likewise.
        history_length: H, interactions in the sequence.
        context_length: C, interactions of earlier episodes of the same task placed after the history
            (the in-context memory of the meta-RL agent; 0: none). Without a context in the batch the
            sequence is the history alone, so a model pretrained without one sees the same positions.
        hidden_size, num_layers, num_heads, intermediate_size, dropout: the BERT encoder.
        kg_fusion: fuse item embeddings over the KG (off: plain embeddings, for the ablation).
        loss_weights: weights of the pretraining losses ``LOSSES`` (see ``pretraining``).
    """

    domains: tuple[str, ...]
    num_items: tuple[int, ...]
    relations: tuple[str, ...]
    feature_names: tuple[str, ...]
    user_feature_names: tuple[str, ...]
    history_length: int = 10
    context_length: int = 0
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 2
    intermediate_size: int = 128
    dropout: float = 0.1
    kg_fusion: bool = True
    loss_weights: dict[str, float] = field(default_factory=lambda: dict.fromkeys(LOSSES, 1.0))

    def __post_init__(self) -> None:
        for name in ("domains", "num_items", "relations", "feature_names", "user_feature_names"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not self.domains or len(self.domains) != len(self.num_items):
            raise ValueError(f"need one catalogue size per domain, got {self.domains} and {self.num_items}")
        if min(self.num_items) < 1:
            raise ValueError(f"num_items must be >= 1, got {self.num_items}")
        for name in ("history_length", "hidden_size", "num_layers", "num_heads", "intermediate_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.context_length, int) or self.context_length < 0:
            raise ValueError(f"context_length must be an integer >= 0, got {self.context_length!r}")
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size ({self.hidden_size}) must be divisible by num_heads ({self.num_heads})")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        unknown = sorted(set(self.loss_weights) - set(LOSSES))
        if unknown:
            raise ValueError(f"unknown loss weight(s) {unknown}; accepted: {', '.join(LOSSES)}")

    @property
    def item_offsets(self) -> tuple[int, ...]:
        """First vocabulary token of each domain's items."""
        start = FIRST_DOMAIN_TOKEN + len(self.domains)
        return tuple(int(x) for x in start + np.concatenate([[0], np.cumsum(self.num_items)[:-1]]))

    @property
    def vocab_size(self) -> int:
        return FIRST_DOMAIN_TOKEN + len(self.domains) + sum(self.num_items)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> RecommenderConfig:
        try:
            values = json.loads(text)
            return cls(**values)
        except (json.JSONDecodeError, TypeError) as error:
            raise ValueError(f"not a RecommenderConfig JSON: {error}") from None


@dataclass
class RecommenderBatch:
    """Model inputs, tensors with the batch as first axis (tokens already in the shared vocabulary).

    Attributes:
        domain_tokens: ``(B,)`` domain token (``UNKNOWN_DOMAIN`` when hidden).
        history_tokens: ``(B, H)`` item tokens, ``PAD`` where empty.
        history_responses: ``(B, H, 3)`` clicked, reward, engagement.
        candidate_tokens: ``(B, M)`` item tokens.
        candidate_features: ``(B, M, F)`` in the config's feature columns.
        user_features: ``(B, U)`` in the config's user feature columns.
        context_tokens, context_responses: ``(B, C)`` and ``(B, C, 3)``, interactions of earlier episodes
            of the task (``None``: none); used when the config's ``context_length`` C is above 0.
    """

    domain_tokens: torch.Tensor
    history_tokens: torch.Tensor
    history_responses: torch.Tensor
    candidate_tokens: torch.Tensor
    candidate_features: torch.Tensor
    user_features: torch.Tensor
    context_tokens: torch.Tensor | None = None
    context_responses: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> RecommenderBatch:
        """The batch with its tensors on ``device`` (tensors already there are not copied)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return RecommenderBatch(**{k: None if v is None else v.to(device) for k, v in values.items()})


@dataclass
class RecommenderOutput:
    """Per candidate ``(B, M)``: ``scores`` (policy logits; pretrained as the candidate's share of the
    step's expected reward), ``ctr_logits``, ``ratings`` (engagement) and ``choice_logits`` (the user's
    choice among a slate, against a no-click option of 0); ``value`` ``(B,)``; the encoder's
    ``sequence`` output ``(B, 1 + H (+ C), D)``; the fused ``item_embeddings`` ``(V, D)`` the pass used."""

    scores: torch.Tensor
    ctr_logits: torch.Tensor
    ratings: torch.Tensor
    choice_logits: torch.Tensor
    value: torch.Tensor
    sequence: torch.Tensor
    item_embeddings: torch.Tensor


class BertRecommender(nn.Module):
    """See the module docstring.

    Args:
        config: the sizes and layout.
        edges: ``(E, 3)`` array of ``(head token, relation id, tail token)``, the KG.
        item_features: ``(V, F)`` catalogue features per vocabulary token in the config's feature
            columns (zeros for the special tokens), see ``encoding.item_features_for_env``.
    """

    def __init__(
        self, config: RecommenderConfig, edges: np.ndarray | None = None, item_features: np.ndarray | None = None
    ) -> None:
        super().__init__()
        self.config = config
        d = config.hidden_size
        self.bert = BertModel(
            BertConfig(
                vocab_size=config.vocab_size,
                hidden_size=d,
                num_hidden_layers=config.num_layers,
                num_attention_heads=config.num_heads,
                intermediate_size=config.intermediate_size,
                hidden_dropout_prob=config.dropout,
                attention_probs_dropout_prob=config.dropout,
                max_position_embeddings=config.context_length + config.history_length + 1,
                type_vocab_size=3,
                pad_token_id=PAD,
            ),
            add_pooling_layer=False,
        )
        self.item_embeddings = nn.Embedding(config.vocab_size, d, padding_idx=PAD)
        nn.init.normal_(self.item_embeddings.weight, std=0.02)
        self.kg_alpha = nn.Parameter(torch.tensor(0.5))
        self.relation_weights = nn.Parameter(torch.ones(max(len(config.relations), 1)))
        edges = np.zeros((0, 3), dtype=np.int64) if edges is None else np.asarray(edges, dtype=np.int64)
        if edges.ndim != 2 or edges.shape[1] != 3:
            raise ValueError(f"edges must be an (E, 3) array of (head, relation, tail), got shape {edges.shape}")
        if len(edges) and (edges[:, [0, 2]].min() < 0 or edges[:, [0, 2]].max() >= config.vocab_size):
            raise ValueError(f"edge tokens must be in [0, {config.vocab_size})")
        if len(edges) and not 0 <= edges[:, 1].min() <= edges[:, 1].max() < len(config.relations):
            raise ValueError(f"edge relation ids must be in [0, {len(config.relations)})")
        self.register_buffer("edges", torch.as_tensor(edges))
        degree = torch.bincount(self.edges[:, 0], minlength=config.vocab_size).clamp(min=1).float()
        self.register_buffer("degree", degree)
        shape = (config.vocab_size, len(config.feature_names))
        item_features = np.zeros(shape, dtype=np.float32) if item_features is None else np.asarray(item_features)
        if item_features.shape != shape:
            raise ValueError(f"item_features must have shape {shape} (vocabulary, features), got {item_features.shape}")
        self.register_buffer("item_features", torch.as_tensor(item_features, dtype=torch.float32))
        self.content_projection = nn.Linear(len(config.feature_names), d, bias=False)
        self.response_projection = nn.Linear(3, d)
        self.feature_projection = nn.Linear(len(config.feature_names), d)
        self.user_projection = nn.Linear(len(config.user_feature_names), d)
        self.candidate_head = nn.Sequential(nn.Linear(3 * d, d), nn.GELU(), nn.Linear(d, 4))
        self.value_head = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, 1))
        self._fixed_embeddings: torch.Tensor | None = None

    @property
    def device(self) -> torch.device:
        """Where the model's weights are (``model.to(device)`` moves them); inputs are moved there."""
        return self.item_embeddings.weight.device

    @contextmanager
    def fixed_item_embeddings(self) -> Iterator[None]:
        """Within the block ``encode`` uses the fused item embeddings computed once at its start, with no gradient:
        for collecting experience, where the fusion over the whole vocabulary would cost more than a small batch."""
        with torch.no_grad():
            self._fixed_embeddings = self.fused_item_embeddings()
        try:
            yield
        finally:
            self._fixed_embeddings = None

    def fused_item_embeddings(self) -> torch.Tensor:
        """``e~ = e + alpha * sum_j lambda_r e_j / deg`` over the KG edges, ``(V, D)``."""
        embeddings = self.item_embeddings.weight + self.content_projection(self.item_features)
        if not self.config.kg_fusion or len(self.edges) == 0:
            return embeddings
        heads, relations, tails = self.edges[:, 0], self.edges[:, 1], self.edges[:, 2]
        messages = self.relation_weights[relations, None] * embeddings[tails]
        neighbours = torch.zeros_like(embeddings).index_add(0, heads, messages)
        return embeddings + self.kg_alpha * neighbours / self.degree[:, None]

    def forward(
        self,
        batch: RecommenderBatch,
        masked: torch.Tensor | None = None,
        head_params: dict[str, torch.Tensor] | None = None,
    ) -> RecommenderOutput:
        """Encode the histories and score the candidates.

        ``masked`` ``(B, H)`` replaces those interactions by ``MASK``, keeping only their click flag; a
        ``MASK`` token in ``history_tokens`` (see ``with_next_item_slot``) is the same thing.
        ``head_params`` replaces parameters after the encoder by name, see ``heads``.
        """
        batch = batch.to(self.device)  # once here: encode and heads then find it in place
        return self.heads(batch, self.encode(batch, masked), head_params)

    def encode(self, batch: RecommenderBatch, masked: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The encoder part of ``forward``: the sequence output ``(B, 1 + H (+ C), D)`` and the fused item
        embeddings ``(V, D)``."""
        batch = batch.to(self.device)
        masked = None if masked is None else masked.to(self.device)
        embeddings = self._fixed_embeddings if self._fixed_embeddings is not None else self.fused_item_embeddings()
        items, responses = batch.history_tokens, batch.history_responses.clone()
        if self.config.context_length and batch.context_tokens is not None:  # the history, then earlier episodes
            items = torch.cat([items, batch.context_tokens], dim=1)
            responses = torch.cat([responses, batch.context_responses], dim=1)
            if masked is not None:
                masked = torch.cat([masked, torch.zeros_like(batch.context_tokens, dtype=torch.bool)], dim=1)
        tokens = torch.cat([batch.domain_tokens[:, None], items], dim=1)
        history = embeddings[items]
        clicked = responses[..., 0] > 0
        if masked is not None:  # a masked interaction keeps only its click flag, like a MASK token at the end
            history = torch.where(masked[..., None], embeddings[MASK], history)
            responses[..., 1:] = responses[..., 1:].masked_fill(masked[..., None], 0.0)
        responses[..., 1] = torch.sign(responses[..., 1]) * torch.log1p(responses[..., 1].abs())  # reward scales differ
        history = history + self.response_projection(responses) * (items != PAD)[..., None]
        inputs = torch.cat([embeddings[batch.domain_tokens][:, None], history], dim=1)
        types = torch.cat(
            [torch.zeros_like(batch.domain_tokens)[:, None], torch.where(clicked, 2, 1) * (items != PAD)], dim=1
        )
        sequence = self.bert(
            inputs_embeds=inputs, token_type_ids=types, attention_mask=(tokens != PAD).long()
        ).last_hidden_state
        return sequence, embeddings

    def heads(
        self,
        batch: RecommenderBatch,
        encoded: tuple[torch.Tensor, torch.Tensor],
        params: dict[str, torch.Tensor] | None = None,
    ) -> RecommenderOutput:
        """Everything of ``forward`` after the encoder (``encoded``, from ``encode(batch)``): the user state,
        the candidates and the heads. ``params`` (names as in ``named_parameters``) replace those of
        ``HEAD_MODULES`` (``call_with``), e.g. adapted to a task."""
        sequence, embeddings = encoded
        batch = batch.to(self.device)
        user = sequence[:, 0] + self._call("user_projection", batch.user_features, params)
        candidates = embeddings[batch.candidate_tokens] + self._call(
            "feature_projection", batch.candidate_features, params
        )
        user_per_candidate = user[:, None].expand_as(candidates)
        pairs = torch.cat([user_per_candidate, candidates, user_per_candidate * candidates], -1)
        heads = self._call("candidate_head", pairs, params)
        return RecommenderOutput(
            scores=heads[..., 0],
            ctr_logits=heads[..., 1],
            ratings=heads[..., 2],
            choice_logits=heads[..., 3],
            value=self._call("value_head", user, params)[:, 0],
            sequence=sequence,
            item_embeddings=embeddings,
        )

    def _call(self, name: str, inputs: torch.Tensor, params: dict[str, torch.Tensor] | None) -> torch.Tensor:
        module, own = getattr(self, name), params_under(params or {}, name)
        return call_with(module, own, inputs) if own else module(inputs)

    def masked_item_logits(self, output: RecommenderOutput, positions: torch.Tensor | None = None) -> torch.Tensor:
        """Logits over the vocabulary at every history position, ``(B, H, V)`` (weights tied to the items),
        or only where the ``(B, H)`` mask ``positions`` is set, ``(P, V)``."""
        hidden = output.sequence[:, 1 : 1 + self.config.history_length]
        if positions is not None:
            hidden = hidden[positions]
        return hidden @ output.item_embeddings.T


def call_with(module: nn.Module, params: dict[str, torch.Tensor], inputs: torch.Tensor) -> torch.Tensor:
    """``module(inputs)`` with ``params`` (names relative to ``module``) in place of its own parameters. The heads'
    ``Linear`` and ``Sequential`` layers are applied directly: ``functional_call``'s bookkeeping per call costs
    more than these small layers compute, and is called for every task at every step of adapted collection.
    Other modules go through ``functional_call``; the result is the same."""
    if isinstance(module, nn.Linear):
        return F.linear(inputs, params.get("weight", module.weight), params.get("bias", module.bias))
    if isinstance(module, nn.Sequential):
        for name, layer in module.named_children():
            inputs = call_with(layer, params_under(params, name), inputs)
        return inputs
    return functional_call(module, params, (inputs,)) if params else module(inputs)


def params_under(params: dict[str, torch.Tensor], name: str) -> dict[str, torch.Tensor]:
    """The entries of ``params`` under submodule ``name``, named relative to it."""
    prefix = f"{name}."
    return {k.removeprefix(prefix): v for k, v in params.items() if k.startswith(prefix)}


def with_next_item_slot(batch: RecommenderBatch) -> RecommenderBatch:
    """The batch with its history shifted by one and a ``MASK`` click appended: the next-item query.

    ``masked_item_logits`` at the last position then scores every item as the user's next click.
    """
    responses = torch.zeros_like(batch.history_responses[:, :1])
    responses[..., 0] = 1.0
    return RecommenderBatch(
        domain_tokens=batch.domain_tokens,
        history_tokens=torch.cat([batch.history_tokens[:, 1:], torch.full_like(batch.history_tokens[:, :1], MASK)], 1),
        history_responses=torch.cat([batch.history_responses[:, 1:], responses], 1),
        candidate_tokens=batch.candidate_tokens,
        candidate_features=batch.candidate_features,
        user_features=batch.user_features,
        context_tokens=batch.context_tokens,
        context_responses=batch.context_responses,
    )
