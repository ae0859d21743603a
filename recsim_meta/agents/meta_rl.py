"""``MetaRLAgent``: a ``BertRecommender`` that learns across tasks and adapts to a new one in context and by gradient.

**Acting.** Policy logits are the recommender's candidate scores over a learned temperature; a slate is K
draws without replacement (Plackett-Luce, sampled as Gumbel top-K), its log-probability the sum of the
draws'. ``deterministic``: the top K.

**In-context adaptation** (RL^2-style trials). Per task the agent keeps a ``TaskMemory`` of C interactions
of the task's earlier episodes (the model's ``context_length``), placed after the user's own history: the last
C (``memory: recent``), or the C items the task's users clicked most (``memory: clicks``). Feedback from
earlier sessions of a cohort so shapes the next ones with no gradient.
Advantages do not cross episodes: the memory is an input, there is no bonus for exploring for later episodes.

**Gradient adaptation** (Meta-SGD). A few steps on the parameters after the encoder (``ADAPTED``: the
projections of the user and candidate features, and the candidate head) of the supervised slate losses
(CTR, rating, ranking, reward; see ``pretraining.slate_losses``) of the task's episodes,
``theta' = theta - exp(log_lr) * grad`` with the gradient clipped to norm 1 (or each tensor's gradient divided
by its root mean square: ``inner_step: normalised``) and a learned learning rate per parameter, the adapted
parameters passed to the heads by name (``BertRecommender.heads``). The encoder runs once for all tasks of a
batch, so the adapted parameters are those after it (a task's own weighting of the item and user features:
price sensitivity, risk tolerance, ...). First order by default (the inner gradient is a constant of the
meta-gradient, FOMAML; the learning rates still get a gradient), second order (``second_order=True``) as
an option.

**Fine-tuning** (``MetaRLAgent.finetuned``): Adam on every parameter, the same slate losses, from the
meta-learned initialisation; slower and heavier than Meta-SGD (a copy of the model per task) but it moves
the encoder too, which a new domain needs.

**Collection** (``collect``): the users of every task of a batch step together in the native vector envs and
the model acts for all of them in one forward pass per step (``collection.Collector``); a task's users share
its memory and adapted parameters.

**Meta-training** (``MetaRLAgent.meta_step``): for a batch of tasks, support users with the base parameters,
adaptation, then query users with the adapted parameters and the memory carried over; PPO (clipped ratio,
GAE over whole sessions with the recommender's value head) plus the slate losses as an auxiliary term, on
both phases, from a subsample of the steps; the query phase's losses go through the adapted parameters, so
they train the initial parameters and the learning rates (the query's slate losses are the Meta-SGD objective
on new users of the task). Rewards are divided by the task's reward scale (root mean square step reward of
its support episodes), so domains with large rewards do not drown the others.

**Fine-tuning meta-training** (``MetaRLAgent.finetuning_meta_step``, after the PPO iterations when the
config asks for it): first-order MAML with the test-time fine-tuning as the inner loop. Each task's support
episodes fine-tune a copy of the model; the gradient of the copy's slate losses on the task's query
episodes is applied to the model, so the initialisation learns to be fine-tuned.

**Meta-gradient hyperparameters** (``meta_hyperparameters=True``): the loss weights and the discount learned
by meta-gradient on validation tasks after each iteration's PPO epochs (``meta_gradients``).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from recsim_meta.agents import meta_gradients
from recsim_meta.agents.bert_recommender import BertRecommender, RecommenderBatch
from recsim_meta.agents.collection import ActedStep, Collector, TaskRun
from recsim_meta.agents.encoding import ObservationEncoder
from recsim_meta.agents.losses import (
    discounted_advantages,
    finetuned_copy,
    memoryless_slate_loss,
    normalised,
    slate_log_prob,
    slate_targets,
)
from recsim_meta.agents.pretraining import rms_reward, slate_losses
from recsim_meta.agents.recommender_policy import (
    get_device,
    gumbel_perturbed,
    read_model,
    read_safetensors,
    write_model,
)
from recsim_meta.agents.rollouts import Rollout, TaskMemory, TaskState, take_rows
from recsim_meta.atomic_files import atomic_directory
from recsim_meta.sim.tasks import Task

ADAPTED = ("user_projection", "feature_projection", "candidate_head")
META_WEIGHTS = "meta.safetensors"
AGENT_FILE = "agent.json"
MODES = ("in_context", "gradient", "both")
INNER_STEPS = ("clipped", "normalised")
HYPERPARAMETERS = ("value_coef", "entropy_coef", "aux_coef", "gamma")  # meta-learned with meta_hyperparameters
QUERY_SEED_OFFSET = 1_000_003  # a task's query users are seeded this far from its support users


@dataclass(frozen=True)
class AdaptationSettings:
    """How the agent learns (saved with the agent as JSON).

    Attributes:
        inner_steps, inner_lr, second_order: Meta-SGD steps, the initial learning rate, second-order meta-gradient.
        inner_step: how a Meta-SGD step scales the gradient (``INNER_STEPS``): ``clipped`` to norm 1 over all the
            adapted parameters, or ``normalised`` by each tensor's root mean square, so that every parameter
            moves by about its learning rate per step, as in Adam's first steps (fine-tuning's optimiser).
        clip, gamma, gae_lambda: PPO's ratio clip, the discount and GAE's lambda.
        entropy_coef, value_coef, aux_coef: weights of the entropy bonus, the value loss (in squared
            reward-scale units, large, so small) and the slate losses against the policy loss.
        meta_hyperparameters: learn the three weights and ``gamma`` by meta-gradient on validation tasks
            (see the module docstring); the values above are then their initial values.
        memory: what a task's in-context memory keeps of its earlier episodes (``TaskMemory.KINDS``): the newest
            interactions (``recent``) or the most clicked items (``clicks``).
    """

    inner_steps: int = 3
    inner_lr: float = 0.05
    second_order: bool = False
    inner_step: str = "clipped"
    clip: float = 0.2
    gamma: float = 0.95
    gae_lambda: float = 0.9
    entropy_coef: float = 0.01
    value_coef: float = 0.05
    aux_coef: float = 1.0
    meta_hyperparameters: bool = False
    memory: str = "recent"

    def __post_init__(self) -> None:
        if self.inner_step not in INNER_STEPS:
            raise ValueError(f"unknown inner_step {self.inner_step!r}; accepted: {', '.join(INNER_STEPS)}")
        if self.memory not in TaskMemory.KINDS:
            raise ValueError(f"unknown memory {self.memory!r}; accepted: {', '.join(TaskMemory.KINDS)}")
        if not isinstance(self.inner_steps, int) or self.inner_steps < 0:
            raise ValueError(f"inner_steps must be an integer >= 0, got {self.inner_steps!r}")
        for name in ("inner_lr", "clip"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("gamma", "gae_lambda"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)!r}")
        if self.meta_hyperparameters:  # learned in log (weights) and logit (discount) space
            for name in HYPERPARAMETERS[:3]:
                if not getattr(self, name) > 0:
                    raise ValueError(f"{name} must be > 0 with meta_hyperparameters, got {getattr(self, name)!r}")
            if not 0 < self.gamma < 1:
                raise ValueError(f"gamma must be in (0, 1) with meta_hyperparameters, got {self.gamma!r}")


@dataclass
class PolicyOutput:
    """Per row: policy ``logits`` (scores over the temperature), the heads of ``RecommenderOutput``, ``value``."""

    FIELDS = ("scores", "ctr_logits", "ratings", "choice_logits", "value")
    scores: torch.Tensor
    ctr_logits: torch.Tensor
    ratings: torch.Tensor
    choice_logits: torch.Tensor
    value: torch.Tensor
    logits: torch.Tensor | None = None


class MetaParameters(nn.Module):
    """The meta-learned values besides the recommender: a log learning rate per adapted parameter, the
    policy's log temperature and, with ``meta_hyperparameters``, ``hyper``: the log loss weights and the
    logit discount."""

    def __init__(self, model: BertRecommender, settings: AdaptationSettings) -> None:
        super().__init__()
        self.log_lr = nn.ParameterDict(
            {
                name.replace(".", "/"): nn.Parameter(torch.full_like(p, math.log(settings.inner_lr)))
                for name, p in model.named_parameters()
                if name.startswith(ADAPTED)
            }
        )
        self.log_temperature = nn.Parameter(torch.tensor(math.log(0.3)))
        if settings.meta_hyperparameters:
            gamma = settings.gamma
            raw = {name: math.log(getattr(settings, name)) for name in HYPERPARAMETERS[:3]}
            raw["gamma"] = math.log(gamma / (1 - gamma))
            self.hyper = nn.ParameterDict({name: nn.Parameter(torch.tensor(value)) for name, value in raw.items()})

    def learning_rates(self) -> dict[str, torch.Tensor]:
        return {name.replace("/", "."): value.exp() for name, value in self.log_lr.items()}

    def loss_parameters(self) -> list[nn.Parameter]:
        """The learning rates and the temperature: what the PPO loss trains (``hyper`` has its meta-gradient)."""
        return [self.log_temperature, *self.log_lr.values()]  # the order of named_parameters()

    def hyperparameters(self) -> dict[str, torch.Tensor]:
        """The meta-learned ``HYPERPARAMETERS`` (a module built with ``meta_hyperparameters`` only)."""
        values = {name: self.hyper[name].exp() for name in HYPERPARAMETERS[:3]}
        return values | {"gamma": torch.sigmoid(self.hyper["gamma"].double())}


class MetaRLAgent:
    """See the module docstring.

    Args:
        model: the recommender (its ``context_length`` is the memory size; 0 disables in-context adaptation).
        env: an env whose domains the model covers (``MultiDomain-v0`` or a domain env); it gives the
            observation layout and is where ``adapt`` and ``predict`` act.
        settings: the inner loop, PPO and loss settings.
        seed: seed of the sampling in ``predict`` and ``adapt``.
        device: where the model runs, as in stable-baselines3: ``"auto"`` (CUDA when available, else the
            CPU), ``"cpu"``, ``"cuda"``, ... The model is moved there; the envs stay on the CPU, and the
            sampling noise comes from a CPU generator, so a seed draws the same noise on every device.
    """

    def __init__(
        self,
        model: BertRecommender,
        env: gym.Env,
        settings: AdaptationSettings | None = None,
        seed: int | None = None,
        device: torch.device | str = "auto",
    ) -> None:
        self.device = get_device(device)
        self.model = model.to(self.device)
        self.settings = settings or AdaptationSettings()
        self.meta = MetaParameters(model, self.settings).to(self.device)
        self.env = env
        self.action_space = env.action_space
        self.encoder = ObservationEncoder(model.config, env)
        self.collector = Collector(env)
        self.generator = torch.Generator().manual_seed(0 if seed is None else seed)
        self.state = self.new_state()

    # ----------------------------------------------------------------- acting
    def new_state(self) -> TaskState:
        return TaskState(TaskMemory(self.model.config.context_length, self.settings.memory))

    def parameters(self) -> list[nn.Parameter]:
        """What the PPO loss trains: the model, the learning rates and the temperature (not ``meta.hyper``)."""
        return [*self.model.parameters(), *self.meta.loss_parameters()]

    def hyperparameters(self, differentiable: bool = False) -> dict[str, float | torch.Tensor]:
        """The loss weights and discount in use: the settings', or the meta-learned ones (as floats, or as
        tensors the meta-gradient goes through with ``differentiable``)."""
        if not self.settings.meta_hyperparameters:
            return {name: getattr(self.settings, name) for name in HYPERPARAMETERS}
        values = self.meta.hyperparameters()
        return values if differentiable else {name: value.item() for name, value in values.items()}

    def encode(
        self, observations: dict[str, np.ndarray], domains: list[str], states: list[TaskState]
    ) -> RecommenderBatch:
        """Model inputs for observations ``(N, ...)`` of this agent's env layout, row ``i`` of ``domains[i]`` with the
        memory of ``states[i]``."""
        batch = self.encoder.encode(observations, domains)
        batch.context_tokens = torch.as_tensor(np.stack([s.memory.tokens for s in states]))
        batch.context_responses = torch.as_tensor(np.stack([s.memory.responses for s in states]))
        return batch.to(self.device)

    def outputs(
        self,
        batch: RecommenderBatch,
        encoded: tuple[torch.Tensor, torch.Tensor],
        params: list[dict[str, torch.Tensor] | None],
        groups: np.ndarray,
    ) -> PolicyOutput:
        """The heads on ``encoded`` (``model.encode(batch)``), row ``i`` with the head parameters ``params[groups[i]]``."""
        parts, order = [], []
        for group in np.unique(groups):
            rows = np.flatnonzero(groups == group)
            index = torch.as_tensor(rows)
            mine = (encoded[0][index], encoded[1])
            parts.append(self.model.heads(take_rows(batch, index), mine, params[group]))
            order.append(rows)
        inverse = torch.as_tensor(np.argsort(np.concatenate(order), kind="stable"))
        output = PolicyOutput(
            **{name: torch.cat([getattr(p, name) for p in parts])[inverse] for name in PolicyOutput.FIELDS}
        )
        output.logits = output.scores / self.meta.log_temperature.exp()
        return output

    def choose(self, logits: torch.Tensor, deterministic: bool) -> torch.Tensor:
        """Slates ``(N, K)``: the top K of the logits, or K draws without replacement (Gumbel top-K)."""
        k = 1 if isinstance(self.action_space, gym.spaces.Discrete) else len(self.action_space.nvec)
        if not deterministic:
            logits = gumbel_perturbed(logits, self.generator)
        return torch.topk(logits, k, dim=1).indices

    def _action(self, slate: torch.Tensor) -> np.ndarray | int:
        """The env action of one slate (on the CPU)."""
        if isinstance(self.action_space, gym.spaces.Discrete):
            return int(slate[0])
        return slate.numpy().astype(np.int64)

    @torch.no_grad()
    def predict(
        self,
        observation: dict[str, np.ndarray],
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray | int, None]:
        """An action of the env's action space for one observation, with the current task state (``adapt``)."""
        self.model.eval()
        single = {key: np.asarray(value)[None] for key, value in observation.items()}
        acted = self.act_batch(single, [self.env.unwrapped.config.name], [self.state], np.zeros(1, int), deterministic)
        return self._action(acted.slate[0].cpu()), None

    @torch.no_grad()
    def act_batch(
        self,
        observations: dict[str, np.ndarray],
        domains: list[str],
        states: list[TaskState],
        slots: np.ndarray,
        deterministic: bool,
    ) -> ActedStep:
        """Slates for a batch of observations, row ``i`` with ``states[slots[i]]`` (its memory and parameters): one
        forward pass (``collection.Actor``)."""
        batch = self.encode(observations, domains, [states[slot] for slot in slots])
        params = [state.params for state in states]
        groups = slots if any(p is not None for p in params) else np.zeros(len(slots), dtype=np.int64)
        output = self.outputs(batch, self.model.encode(batch), params, groups)
        slate = self.choose(output.logits, deterministic)
        return ActedStep(batch, slate, slate_log_prob(output.logits, slate), output.value)

    def remember(self, state: TaskState, item_ids: np.ndarray, responses: np.ndarray, domain: str) -> None:
        """Put an episode's interactions in ``domain`` (item ids ``(T,)``, responses ``(T, 3)``) into ``state``'s
        memory (``collection.Actor``)."""
        state.memory.add_episode(self.encoder.item_tokens(item_ids, domain), responses)

    def collect(
        self,
        tasks: list[Task],
        states: list[TaskState] | None = None,
        episodes: int = 1,
        users: int = 1,
        seeds: list[int] | None = None,
        deterministic: bool = False,
        remember: bool = True,
    ) -> Rollout:
        """Experience of every ``tasks[i]`` with ``states[i]`` (fresh ones by default): ``users`` users stepped
        together, each playing ``episodes`` episodes in turn, from a generator seeded ``seeds[i]`` (default
        ``i``), one batched forward pass per step for all (``collection.Collector``); with ``remember`` every
        finished episode goes into its task's memory."""
        states = [self.new_state() for _ in tasks] if states is None else states
        seeds = list(range(len(tasks))) if seeds is None else seeds
        runs = [TaskRun(task, users, episodes, seed) for task, seed in zip(tasks, seeds, strict=True)]
        self.model.eval()
        with self.model.fixed_item_embeddings():
            return self.collector.collect(self, runs, states, deterministic, remember)

    # ----------------------------------------------------------------- adaptation
    @staticmethod
    def reward_scale(rollout: Rollout, slots: int) -> np.ndarray:
        """``rms_reward`` of each slot's steps."""
        return np.array([rms_reward(rollout.reward[rollout.slot == slot]) for slot in range(slots)])

    def adapted_params(
        self, rollout: Rollout, encoded: tuple[torch.Tensor, torch.Tensor], scale: float, create_graph: bool = False
    ) -> dict[str, torch.Tensor]:
        """Meta-SGD: ``inner_steps`` steps of the slate losses of ``rollout`` (one task's steps; ``encoded``
        from ``model.encode(rollout.batch)``) on the ``ADAPTED`` parameters, each scaled by its learned
        learning rate. ``create_graph`` keeps the result differentiable for the meta-gradient."""
        if not create_graph:
            encoded = (encoded[0].detach(), encoded[1].detach())
        params = {name: p for name, p in self.model.named_parameters() if name.startswith(ADAPTED)}
        learning_rates = self.meta.learning_rates()
        targets = slate_targets(rollout, scale)
        second_order = self.settings.second_order and create_graph
        for _ in range(self.settings.inner_steps):
            loss = sum(slate_losses(self.model.heads(rollout.batch, encoded, params), *targets).values())
            grads = torch.autograd.grad(loss, list(params.values()), create_graph=second_order)
            if self.settings.inner_step == "normalised":
                grads = [g / (g.pow(2).mean().sqrt() + 1e-8) for g in grads]
            else:  # clipped to norm 1: stable steps
                norm = torch.sqrt(sum((g**2).sum() for g in grads))
                grads = [g * torch.clamp(1.0 / (norm + 1e-6), max=1.0) for g in grads]
            params = {
                name: p - learning_rates[name] * (g if second_order else g.detach())
                for (name, p), g in zip(params.items(), grads, strict=True)
            }
        return params

    def adapt_states(self, rollout: Rollout | None, states: list[TaskState], mode: str = "both") -> list[TaskState]:
        """Task states after ``rollout`` (the tasks' adaptation episodes, already in the states' memories;
        ``None``: no episodes): ``in_context`` keeps the memory, ``gradient`` adapts the heads with an empty
        memory, ``both`` does both."""
        if mode not in MODES:
            raise ValueError(f"unknown adaptation mode {mode!r}; accepted: {', '.join(MODES)}")
        if rollout is None:
            return [TaskState(self.new_state().memory if mode == "gradient" else s.memory) for s in states]
        scale = self.reward_scale(rollout, len(states))
        adapted = []
        for slot, state in enumerate(states):
            memory = state.memory if mode != "gradient" else self.new_state().memory
            params = None
            rows = np.flatnonzero(rollout.slot == slot)
            if mode != "in_context" and rows.size:
                mine = rollout.select(rows)
                self.model.eval()
                with torch.enable_grad():
                    params = self.adapted_params(mine, self.model.encode(mine.batch), scale[slot])
                params = {k: v.detach() for k, v in params.items()}
            adapted.append(TaskState(memory, params))
        return adapted

    def adapt(self, episodes: int, task: Task | None = None, mode: str = "both", seed: int = 0) -> Rollout:
        """Adapt to ``task`` (or the env's current one) from ``episodes`` episodes of sampled slates in the
        agent's env; ``predict`` then acts with the adapted state. Returns the episodes."""
        state = self.new_state()
        rollout = self.collect([task or self.env.unwrapped.task], [state], episodes=episodes, seeds=[seed])
        self.state = self.adapt_states(rollout, [state], mode)[0]
        return rollout

    def with_adaptation(self, inner_steps: int, lr_scale: float = 1.0) -> MetaRLAgent:
        """The same agent (sharing the model) adapting by gradient with ``inner_steps`` steps at ``lr_scale``
        times its learned learning rates: a test-time setting (MAML practice allows more steps at test time)."""
        if lr_scale <= 0:
            raise ValueError(f"lr_scale must be > 0, got {lr_scale}")
        agent = self._sibling(self.model, replace(self.settings, inner_steps=inner_steps))
        with torch.no_grad():
            for value in agent.meta.log_lr.values():
                value += math.log(lr_scale)
        return agent

    def finetuned(
        self, rollout: Rollout, steps: int, learning_rate: float, parts: tuple[str, ...] | None = None
    ) -> MetaRLAgent:
        """A new agent whose model is a copy of this one's trained for ``steps`` full-batch Adam steps of the
        slate losses on ``rollout`` (one task's steps, seen with an empty memory, as the model then acts):
        plain fine-tuning of every parameter (or of those whose names start with one of ``parts``), here from
        the meta-learned initialisation (Reptile's test-time procedure); the same on a pretrained recommender is
        the baseline. The new agent keeps this one's meta-parameters (learned learning rates, temperature) and
        sampling state; this agent is unchanged."""
        return self._sibling(finetuned_copy(self.model, rollout, steps, learning_rate, parts), self.settings)

    def _sibling(self, model: BertRecommender, settings: AdaptationSettings) -> MetaRLAgent:
        """An agent with ``model`` and ``settings``, and a copy of this one's meta-parameters and sampling state."""
        agent = MetaRLAgent(model, self.env, settings, device=self.device)
        agent.meta.load_state_dict(self.meta.state_dict())
        agent.generator.set_state(self.generator.get_state())
        return agent

    def reset_task(self) -> None:
        """Forget the adapted task: empty memory, base parameters."""
        self.state = self.new_state()

    # ----------------------------------------------------------------- meta-training
    def meta_losses(
        self,
        support: Rollout,
        query: Rollout,
        slots: int,
        gamma: float | torch.Tensor,
        rows: dict[str, np.ndarray] | None = None,
    ) -> dict[str, torch.Tensor]:
        """PPO and auxiliary losses of one meta-training batch (see the module docstring): the support phase
        with the base parameters, the query phase with each task's parameters adapted on its support steps.
        Advantages come from whole sessions; the losses from the steps ``rows[phase]`` of each phase (all by
        default: a subsample makes the update cheaper)."""
        scale = self.reward_scale(support, slots)
        settings = self.settings
        targets = {}
        for name, rollout in (("support", support), ("query", query)):
            chosen = np.arange(len(rollout.slot)) if rows is None else rows[name]
            advantage, target = discounted_advantages(rollout, scale, gamma, settings.gae_lambda)
            index = chosen if isinstance(advantage, np.ndarray) else torch.as_tensor(chosen, device=advantage.device)
            targets[name] = (rollout.select(chosen), advantage[index], target[index])
        support, query = targets["support"][0], targets["query"][0]
        support_encoded = self.model.encode(support.batch)
        params: list[dict[str, torch.Tensor] | None] = []
        for slot in range(slots):
            rows = np.flatnonzero(support.slot == slot)
            index = torch.as_tensor(rows)
            mine = (support_encoded[0][index], support_encoded[1])
            params.append(self.adapted_params(support.select(rows), mine, scale[slot], True) if rows.size else None)
        query_encoded = self.model.encode(query.batch)
        phases = {
            "support": (
                support,
                self.outputs(support.batch, support_encoded, [None], np.zeros(len(support.slot), int)),
            ),
            "query": (query, self.outputs(query.batch, query_encoded, params, query.slot)),
        }
        losses: dict[str, torch.Tensor] = {}
        for name, (rollout, output) in phases.items():
            advantage, target = targets[name][1:]
            advantage = normalised(advantage, self.device)
            ratio = (slate_log_prob(output.logits, rollout.slate) - rollout.log_prob).exp()
            clipped = ratio.clamp(1 - settings.clip, 1 + settings.clip)
            losses[f"{name}/policy"] = -torch.min(ratio * advantage, clipped * advantage).mean()
            losses[f"{name}/value"] = F.mse_loss(
                output.value, torch.as_tensor(target, dtype=torch.float32, device=self.device)
            )
            losses[f"{name}/entropy"] = -(output.logits.softmax(1) * output.logits.log_softmax(1)).sum(1).mean()
            losses[f"{name}/aux"] = sum(slate_losses(output, *slate_targets(rollout, scale)).values())
        return losses

    @staticmethod
    def total_loss(losses: dict[str, torch.Tensor], weights: dict[str, float | torch.Tensor]) -> torch.Tensor:
        """The PPO objective of ``meta_losses`` with the loss ``weights`` of ``hyperparameters``."""
        return sum(
            losses[f"{phase}/policy"]
            + weights["value_coef"] * losses[f"{phase}/value"]
            - weights["entropy_coef"] * losses[f"{phase}/entropy"]
            + weights["aux_coef"] * losses[f"{phase}/aux"]
            for phase in ("support", "query")
        )

    def meta_step(
        self,
        tasks: list[Task],
        support_episodes: int,
        query_episodes: int,
        seeds: list[int],
        optimizer: torch.optim.Optimizer,
        epochs: int,
        validation: tuple[list[Task], list[int]] | None = None,
        update_fraction: float = 1.0,
    ) -> dict[str, float]:
        """One meta-training iteration on ``tasks``; returns mean losses and returns.

        Each task's ``support_episodes`` support users and then its ``query_episodes`` query users (one episode
        each, every task's stepped together, ``collect``) play from the task's seed; the PPO epochs learn from
        ``update_fraction`` of the steps of each phase (a random subsample, the same in every epoch).
        ``validation`` (tasks, seeds): with ``meta_hyperparameters``, ``query_episodes`` users of these tasks
        then give the hyperparameters' meta-gradient step (``optimizer`` must hold ``meta.hyper``).
        """
        if self.settings.meta_hyperparameters != (validation is not None):
            raise ValueError("validation tasks are needed with meta_hyperparameters, and only then")
        if not 0 < update_fraction <= 1:
            raise ValueError(f"update_fraction must be in (0, 1], got {update_fraction!r}")
        states = [self.new_state() for _ in tasks]
        support = self.collect(tasks, states, users=support_episodes, seeds=seeds)
        adapted = self.adapt_states(support, states, "both")
        query = self.collect(tasks, adapted, users=query_episodes, seeds=[s + QUERY_SEED_OFFSET for s in seeds])
        rng = np.random.default_rng(int(torch.randint(2**31, (1,), generator=self.generator)))
        rows = {
            name: np.sort(rng.permutation(len(r.slot))[: max(1, round(update_fraction * len(r.slot)))])
            for name, r in (("support", support), ("query", query))
        }
        self.model.eval()  # no dropout: PPO's ratio must compare the same function of the parameters
        records, parameters, sensitivities = [], self.parameters(), []
        for epoch in range(epochs):
            hyperparameters = self.hyperparameters(differentiable=validation is not None and epoch == 0)
            losses = self.meta_losses(support, query, len(tasks), hyperparameters["gamma"], rows)
            total = self.total_loss(losses, hyperparameters)
            optimizer.zero_grad()
            if validation is not None and epoch == 0:  # dg/deta at theta, before the parameters move
                sensitivities = meta_gradients.sensitivities(total, list(self.meta.hyper.values()), parameters)
                gradients = torch.autograd.grad(total, parameters, allow_unused=True)
                for parameter, gradient in zip(parameters, gradients, strict=True):
                    parameter.grad = gradient
            else:
                total.backward()
            torch.nn.utils.clip_grad_norm_(parameters, 1.0)
            optimizer.step()
            records.append({k: v.item() for k, v in losses.items()} | {"total": total.item()})
        record = {k: float(np.mean([r[k] for r in records])) for k in records[0]}
        if validation is not None:
            record |= self.meta_gradient_step(sensitivities, *validation, query_episodes, optimizer)
            record |= {f"hyper/{name}": value for name, value in self.hyperparameters().items()}
        record["env_steps"] = float(len(support.reward) + len(query.reward))
        record["support/return"] = float(np.mean(list(support.returns_per_episode().values())))
        record["query/return"] = float(np.mean(list(query.returns_per_episode().values())))
        record["temperature"] = float(self.meta.log_temperature.detach().exp())
        record["inner_lr"] = float(
            torch.cat([v.detach().flatten() for v in self.meta.learning_rates().values()]).mean()
        )
        return record

    def finetuning_meta_step(
        self,
        tasks: list[Task],
        support_episodes: int,
        query_episodes: int,
        seeds: list[int],
        optimizer: torch.optim.Optimizer,
        steps: int,
        learning_rate: float,
    ) -> dict[str, float]:
        """One iteration of first-order MAML through the test-time fine-tuning (``finetuned``): each task's
        support episodes fine-tune a copy of the model, and the gradient of that copy's slate losses on the
        task's query episodes (new users, the same base policy) is the model's, averaged over the tasks.
        Trains the initialisation that fine-tuning starts from; returns mean losses and returns."""
        rollout = self.collect(tasks, users=support_episodes + query_episodes, seeds=seeds, remember=False)
        parameters = list(self.model.parameters())
        gradients = [torch.zeros_like(p) for p in parameters]
        before, after = [], []
        for slot in range(len(tasks)):
            mine = rollout.select(np.flatnonzero(rollout.slot == slot))
            support = mine.select(np.flatnonzero(mine.user < support_episodes))
            query = mine.select(np.flatnonzero(mine.user >= support_episodes))
            query_loss = memoryless_slate_loss(query, rms_reward(support.reward))
            with torch.no_grad():
                before.append(query_loss(self.model).item())
            tuned = finetuned_copy(self.model, support, steps, learning_rate)
            loss = query_loss(tuned)
            after.append(loss.item())
            tuned_gradients = torch.autograd.grad(loss, list(tuned.parameters()), allow_unused=True)
            for total, gradient in zip(gradients, tuned_gradients, strict=True):
                if gradient is not None:  # the value head is not in the slate losses
                    total += gradient / len(tasks)
        optimizer.zero_grad()
        for parameter, gradient in zip(parameters, gradients, strict=True):
            parameter.grad = gradient
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        return {
            "finetuning/query_loss_before": float(np.mean(before)),
            "finetuning/query_loss_after": float(np.mean(after)),
            "query/return": float(np.mean(list(rollout.returns_per_episode().values()))),
        }

    def validation_objective(self, rollout: Rollout, slots: int) -> torch.Tensor:
        """The hyperparameters' meta-objective: the policy-gradient loss of ``rollout`` (episodes just collected
        with the current parameters), advantages with the settings' fixed discount."""
        scale = self.reward_scale(rollout, slots)
        advantage, _ = discounted_advantages(rollout, scale, self.settings.gamma, self.settings.gae_lambda)
        output = self.outputs(rollout.batch, self.model.encode(rollout.batch), [None], np.zeros(len(rollout.slot), int))
        return -(slate_log_prob(output.logits, rollout.slate) * normalised(advantage, self.device)).mean()

    def meta_gradient_step(
        self,
        sensitivities: list[tuple[torch.Tensor | None, ...]],
        tasks: list[Task],
        seeds: list[int],
        episodes: int,
        optimizer: torch.optim.Optimizer,
    ) -> dict[str, float]:
        """One Adam step of ``meta.hyper`` along the meta-gradient (``meta_gradients``): ``sensitivities[k]``
        is ``dg/deta_k`` for ``parameters()`` (``None``: zero), ``lr_p`` the optimizer's learning rates."""
        rollout = self.collect(tasks, users=episodes, seeds=seeds)
        parameters, hyper = self.parameters(), list(self.meta.hyper.values())
        rates = {id(p): group["lr"] for group in optimizer.param_groups for p in group["params"]}
        if any(id(p) not in rates for p in [*parameters, *hyper]):
            raise ValueError("the optimizer must hold parameters() and meta.hyper")
        objective = self.validation_objective(rollout, len(tasks))
        gradients = meta_gradients.hyperparameter_gradients(
            sensitivities, objective, parameters, [rates[id(p)] for p in parameters]
        )
        optimizer.zero_grad(set_to_none=True)
        for parameter, gradient in zip(hyper, gradients, strict=True):
            parameter.grad = gradient
        optimizer.step()  # only the hyperparameters have gradients
        returns = list(rollout.returns_per_episode().values())
        return {"validation/objective": objective.item(), "validation/return": float(np.mean(returns))}

    # ----------------------------------------------------------------- persistence
    def write(self, folder: Path) -> None:
        """The recommender (``write_model``), the meta-parameters in safetensors and the settings in JSON."""
        write_model(self.model, folder)
        from safetensors.torch import save_file

        save_file({k: v.detach().cpu().contiguous() for k, v in self.meta.state_dict().items()}, folder / META_WEIGHTS)
        (folder / AGENT_FILE).write_text(json.dumps(asdict(self.settings), indent=2))

    def save(self, path: str | os.PathLike) -> None:
        """Write ``path/`` atomically (see ``write``); an interrupted save leaves the old one."""
        with atomic_directory(path) as staging:
            self.write(staging)

    @classmethod
    def load(
        cls, path: str | os.PathLike, env: gym.Env, seed: int | None = None, device: torch.device | str = "auto"
    ) -> MetaRLAgent:
        """Load a saved agent for ``env`` onto ``device`` (whichever device saved it); JSON and safetensors
        only, nothing is executed.

        Raises:
            ValueError: a missing, corrupted or foreign file, naming it.
        """
        path = Path(path)
        model = read_model(path)
        for name in (AGENT_FILE, META_WEIGHTS):
            if not (path / name).is_file():
                raise ValueError(f"{path} is not a saved MetaRLAgent: missing {name}")
        try:
            settings = AdaptationSettings(**json.loads((path / AGENT_FILE).read_text()))
        except (json.JSONDecodeError, TypeError) as error:
            raise ValueError(f"{path / AGENT_FILE} is not a MetaRLAgent settings file: {error}") from None
        agent = cls(model, env, settings, seed, device)
        try:
            agent.meta.load_state_dict(read_safetensors(path / META_WEIGHTS), strict=True)
        except RuntimeError as error:
            raise ValueError(f"{path / META_WEIGHTS} does not fit the saved model: {error}") from None
        return agent
