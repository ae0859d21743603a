"""The meta-RL agent's objectives on collected ``Rollout`` s: the slate losses' targets and the fine-tuning
objective, the Plackett-Luce log-probability of a slate, and GAE advantages over whole sessions."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import torch

from recsim_meta.agents.bert_recommender import BertRecommender
from recsim_meta.agents.pretraining import rms_reward, slate_losses
from recsim_meta.agents.rollouts import Rollout


def slate_targets(rollout: Rollout, scale: float | np.ndarray) -> tuple[torch.Tensor, ...]:
    """The arguments of ``slate_losses`` after the output for ``rollout``, rewards divided by ``scale`` (one
    for all rows, or one per slot)."""
    scale = scale[rollout.slot] if isinstance(scale, np.ndarray) else scale
    device = rollout.slate.device
    return (
        rollout.slate,
        torch.as_tensor(rollout.position, device=device),
        torch.as_tensor(rollout.reward / scale, dtype=torch.float32, device=device),
        torch.as_tensor(rollout.engagement, device=device),
    )


def memoryless_slate_loss(rollout: Rollout, scale: float) -> Callable[[BertRecommender], torch.Tensor]:
    """The fine-tuning objective on ``rollout``: a model's summed slate losses on its steps seen with an empty
    memory, rewards divided by ``scale`` (inputs and targets built once)."""
    batch = replace(rollout.batch, context_tokens=None, context_responses=None)
    targets = slate_targets(rollout, scale)
    return lambda model: sum(slate_losses(model(batch), *targets).values())


def finetuned_copy(
    model: BertRecommender, rollout: Rollout, steps: int, learning_rate: float, parts: tuple[str, ...] | None = None
) -> BertRecommender:
    """A copy of ``model`` trained for ``steps`` full-batch Adam steps of ``memoryless_slate_loss`` on
    ``rollout`` (rewards in units of its ``rms_reward``); ``model`` is unchanged. ``parts``: train only the
    parameters whose names start with one of these (``None``: all)."""
    model = copy.deepcopy(model)
    loss = memoryless_slate_loss(rollout, rms_reward(rollout.reward))
    trained = [p for name, p in model.named_parameters() if parts is None or name.startswith(parts)]
    if not trained:
        raise ValueError(f"no parameter of the model starts with any of {parts}")
    optimizer = torch.optim.Adam(trained, lr=learning_rate)
    model.eval()
    for _ in range(steps):
        optimizer.zero_grad()
        loss(model).backward()
        optimizer.step()
    return model


def slate_log_prob(logits: torch.Tensor, slate: torch.Tensor) -> torch.Tensor:
    """Plackett-Luce log-probability of drawing the ``(N, K)`` slates in order, without replacement."""
    chosen = logits.gather(1, slate)
    taken = torch.zeros_like(logits, dtype=torch.bool)
    total = logits.new_zeros(len(logits))
    for k in range(slate.shape[1]):
        total = total + chosen[:, k] - torch.logsumexp(logits.masked_fill(taken, -torch.inf), 1)
        taken = taken.scatter(1, slate[:, k : k + 1], True)
    return total


def discounted_advantages(
    rollout: Rollout, scale: np.ndarray, gamma: float | torch.Tensor, lam: float
) -> tuple[np.ndarray, np.ndarray] | tuple[torch.Tensor, torch.Tensor]:
    """GAE advantages and value targets of every step over its whole session (episode), rewards divided by the
    slot's ``scale``; an episode's end (session end or step cap) is terminal. With ``gamma`` a tensor both are
    tensors differentiable in it."""
    reward = rollout.reward / scale[rollout.slot]
    value = rollout.value.cpu().numpy().astype(np.float64)
    advantage: list = [0.0] * len(reward)
    episodes = rollout.slot.astype(np.int64) * (int(rollout.episode.max(initial=0)) + 1) + rollout.episode
    order = np.argsort(episodes, kind="stable")  # each episode's steps together, in time order
    starts = np.flatnonzero(np.diff(episodes[order], prepend=-1))
    for rows in np.split(order, starts[1:]):
        running, next_value = 0.0, 0.0
        for row in rows[::-1]:
            delta = reward[row] + gamma * next_value - value[row]
            running = delta + gamma * lam * running
            advantage[row], next_value = running, value[row]
    if isinstance(gamma, torch.Tensor):
        stacked = torch.stack([torch.as_tensor(a, dtype=torch.float64, device=gamma.device) for a in advantage])
        return stacked, stacked + torch.as_tensor(value, device=gamma.device)
    advantages = np.array(advantage)
    return advantages, advantages + value


def normalised(advantage: np.ndarray | torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
    """Advantages less their mean over their standard deviation (population), as float32 (an array's on ``device``)."""
    if isinstance(advantage, torch.Tensor):
        return ((advantage - advantage.mean()) / (advantage.std(correction=0) + 1e-8)).float()
    return torch.as_tensor(
        (advantage - advantage.mean()) / (advantage.std() + 1e-8), dtype=torch.float32, device=device
    )
