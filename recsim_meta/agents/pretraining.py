"""Pretraining a ``BertRecommender`` on logged interactions: BERT4Rec masked items plus the multi-task losses.

Losses on a batch of log rows (each averaged over what it applies to, then weighted by
``config.loss_weights``):

- ``mlm``: masked-item prediction (cross-entropy over the vocabulary) on the history shifted by one with
  the row's click appended as ``MASK`` (next-item prediction, as BERT4Rec trains its last position), and
  on clicked history items masked at random with probability ``mask_prob``;
- ``ctr``: binary cross-entropy of the CTR logit of every slate item against whether it was clicked;
- ``rating``: squared error of the rating head against the engagement of the clicked item;
- ``ranking``: listwise softmax over the slate's choice logits plus a no-click option scored 0, the
  multinomial-logit choice of the user, against what the user chose;
- ``reward``: the policy scores of a slate summed, against the step's reward in units of the domain's
  reward scale (``LogEncoder.reward_scale``), squared error: each score learns its candidate's share of
  the expected reward, so the top-K scores are the myopic greedy slate (penalties for showing an item
  included), where the choice of what users click alone would favour cheap, short or risky items.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from recsim_meta.agents.bert_recommender import (
    MASK,
    PAD,
    BertRecommender,
    RecommenderBatch,
    RecommenderConfig,
    RecommenderOutput,
    with_next_item_slot,
)
from recsim_meta.agents.encoding import ArrayEncoder
from recsim_meta.agents.logged_data import InteractionLog


def rms_reward(rewards: np.ndarray) -> float:
    """Root mean square of step rewards, the unit rewards are measured in (1 when all are zero or none)."""
    return float(np.sqrt(np.mean(np.square(rewards)))) if np.any(rewards) else 1.0


class LogEncoder:
    """Model inputs and targets for rows of ``log``, whose domains and columns the model must cover."""

    def __init__(self, config: RecommenderConfig, log: InteractionLog) -> None:
        self.arrays = ArrayEncoder(config, log.domains, log.feature_names, log.user_feature_names)
        sizes = dict(zip(config.domains, config.num_items, strict=True))
        wrong = {d: n for d, n in zip(log.domains, log.num_items, strict=True) if sizes[d] != n}
        if wrong:
            raise ValueError(f"the log's catalogue sizes {wrong} differ from the model's {sizes}")
        self.config, self.log = config, log
        self.domain_index = self.arrays.domain_index[log.domain]
        self.item_offset = np.asarray(config.item_offsets, dtype=np.int64)[self.domain_index]
        # the root mean square step reward of each domain in the log (1 where it is all zero)
        scale = np.ones(len(log.domains), dtype=np.float32)
        for d in np.unique(log.domain):
            scale[d] = rms_reward(log.reward[log.domain == d])
        self.reward_scale = scale[log.domain]

    def batch(self, rows: np.ndarray) -> RecommenderBatch:
        log = self.log
        return self.arrays.encode(
            log.domain[rows],
            np.ones(len(rows), dtype=bool),
            log.history_ids[rows],
            log.history_responses[rows],
            log.candidate_ids[rows],
            log.candidate_features[rows],
            log.user_features[rows],
        )

    def clicked_tokens(self, rows: np.ndarray) -> torch.Tensor:
        """Vocabulary token of the item clicked in each row, ``PAD`` for none."""
        item = self.log.clicked_item[rows]
        return torch.as_tensor(np.where(item >= 0, item + self.item_offset[rows], PAD))


def slate_losses(
    output: RecommenderOutput,
    slate: torch.Tensor,
    position: torch.Tensor,
    reward_target: torch.Tensor,
    engagement: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """The ``ctr``, ``rating``, ``ranking`` and ``reward`` losses of the module docstring for steps with slates
    ``(N, K)`` of candidate positions, clicked slots ``position`` ``(N,)`` (-1: none), the step reward in units
    of the domain's scale and the clicked item's engagement; a loss with nothing to apply to is 0."""
    clicked = position >= 0
    slots = torch.arange(slate.shape[1], device=slate.device)
    ctr = F.binary_cross_entropy_with_logits(
        output.ctr_logits.gather(1, slate), (slots[None] == position[:, None]).float()
    )
    null = output.choice_logits.new_zeros(len(slate), 1)
    ranking = F.cross_entropy(torch.cat([null, output.choice_logits.gather(1, slate)], 1), position + 1)
    reward = F.mse_loss(output.scores.gather(1, slate).sum(1), reward_target)
    chosen = slate.gather(1, position.clamp(min=0)[:, None])[:, 0]
    rating = ((output.ratings.gather(1, chosen[:, None])[:, 0] - engagement) ** 2)[clicked].mean()
    losses = {"ctr": ctr, "rating": rating, "ranking": ranking, "reward": reward}
    return {name: torch.nan_to_num(loss) for name, loss in losses.items()}


def multitask_losses(
    model: BertRecommender, encoder: LogEncoder, rows: np.ndarray, mask_prob: float, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """The losses of the module docstring on ``rows`` of the encoder's log."""
    log, device = encoder.log, model.device
    batch = encoder.batch(rows).to(device)
    output = model(batch)
    slate = torch.as_tensor(log.slate[rows], device=device)
    position = torch.as_tensor(log.position[rows], device=device)
    clicked = position >= 0
    reward_target = torch.as_tensor(log.reward[rows] / encoder.reward_scale[rows], device=device)
    engagement = torch.as_tensor(log.engagement[rows], device=device)
    losses = slate_losses(output, slate, position, reward_target, engagement)

    # masked items: the next click at the appended slot, and clicked history items at random
    query = with_next_item_slot(batch)
    targets = torch.full_like(query.history_tokens, -100)
    targets[:, -1] = torch.where(clicked, encoder.clicked_tokens(rows).to(device), -100)
    earlier_clicks = (query.history_responses[:, :-1, 0] > 0) & (query.history_tokens[:, :-1] > MASK)
    masked = earlier_clicks & (torch.rand(earlier_clicks.shape, generator=generator) < mask_prob).to(device)
    targets[:, :-1] = torch.where(masked, query.history_tokens[:, :-1], -100)
    masked = torch.cat([masked, torch.zeros_like(masked[:, :1])], 1)
    predicted = targets != -100
    logits = model.masked_item_logits(model(query, masked=masked), predicted)
    mlm = F.cross_entropy(logits, targets[predicted])
    return {"mlm": torch.nan_to_num(mlm), **losses}  # a batch without clicks: 0


def pretraining_step(
    model: BertRecommender,
    encoder: LogEncoder,
    optimizer: torch.optim.Optimizer,
    rows: np.ndarray,
    mask_prob: float,
    generator: torch.Generator,
) -> dict[str, float]:
    """One update on ``rows``: the losses weighted by ``config.loss_weights``, gradients clipped to norm 1."""
    model.train()
    losses = multitask_losses(model, encoder, rows, mask_prob, generator)
    weights = model.config.loss_weights
    total = sum(weights.get(name, 1.0) * loss for name, loss in losses.items())
    optimizer.zero_grad()
    total.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return {name: loss.item() for name, loss in losses.items()} | {"total": total.item()}


def pretrain(
    model: BertRecommender,
    log: InteractionLog,
    steps: int,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    mask_prob: float = 0.2,
    seed: int = 0,
    log_dir: str | Path | None = None,
    progress: bool = True,
) -> list[dict[str, float]]:
    """Train ``model`` on ``log`` for ``steps`` AdamW steps of random row batches, on the model's device (the
    masking draws come from a CPU generator); returns the losses per step.

    ``log_dir`` gets TensorBoard scalars ``loss/<name>`` and ``loss/total``.
    """
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be >= 1, got {steps} and {batch_size}")
    if not 0.0 <= mask_prob <= 1.0:
        raise ValueError(f"mask_prob must be in [0, 1], got {mask_prob!r}")
    encoder = LogEncoder(model.config, log)
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.01)
    writer = None
    if log_dir is not None:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(log_dir))
    history = []
    bar = tqdm(range(steps), desc="pretraining", disable=not progress)
    for step in bar:
        record = pretraining_step(
            model, encoder, optimizer, rng.integers(len(log), size=batch_size), mask_prob, generator
        )
        history.append(record)
        bar.set_postfix(loss=f"{record['total']:.3f}", refresh=False)
        if writer is not None:
            for name, value in record.items():
                writer.add_scalar(f"loss/{name}", value, step)
    if writer is not None:
        writer.close()
    model.eval()
    return history


@torch.no_grad()
def next_item_scores(model: BertRecommender, log: InteractionLog, batch_size: int = 1024) -> np.ndarray:
    """Scores of every catalogue item of the row's domain as the next click, ``(N, num_items)``.

    Rows of a log with domains of different catalogue sizes are padded with ``-inf``.
    """
    model.eval()
    encoder = LogEncoder(model.config, log)
    size = max(log.num_items)
    scores = np.full((len(log), size), -np.inf, dtype=np.float32)
    for start in range(0, len(log), batch_size):
        rows = np.arange(start, min(start + batch_size, len(log)))
        logits = model.masked_item_logits(model(with_next_item_slot(encoder.batch(rows))))[:, -1].cpu().numpy()
        offsets = encoder.item_offset[rows]
        for domain in np.unique(encoder.domain_index[rows]):
            mine = encoder.domain_index[rows] == domain
            n = model.config.num_items[domain]
            scores[rows[mine], :n] = logits[mine][:, offsets[mine][0] : offsets[mine][0] + n]
    return scores
