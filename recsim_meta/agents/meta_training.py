"""Meta-training from a YAML config: logs, pretraining, then meta-RL iterations (and any fine-tuning
meta-training iterations after them) with checkpoints and resume.

``meta_train(config, out)`` writes under ``out/``:

- ``config.yaml``: the config it ran;
- ``pretrained/``: the recommender pretrained on logs of the training tasks (the "no meta-learning" baseline);
- ``checkpoint/``: the agent, the optimizer state and ``training.json`` (iterations done), written
  atomically every ``checkpoint_every`` iterations and at the end; ``checkpoint.previous/``, the one before;
- ``tensorboard/``: pretraining losses and, per iteration, the meta-training losses and returns.

Every iteration draws its tasks, episode seeds and torch randomness from ``(seed, iteration)`` alone, so a
run resumed from a checkpoint continues exactly as the uninterrupted run would have: ``--resume`` loses at
most the iterations since the last checkpoint. A kill at any moment leaves a complete checkpoint to resume
from: the one being written is staged and synced before it replaces the last (``recover_checkpoint`` finds
the newest complete one, also when the kill fell between the renames), and a damaged one falls back to
``checkpoint.previous``, saying so.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from tqdm.auto import tqdm

from recsim_meta.agents.bert_recommender import BertRecommender
from recsim_meta.agents.encoding import config_for_env, item_features_for_env, kg_edges_for_env
from recsim_meta.agents.logged_data import collect_logs
from recsim_meta.agents.meta_rl import AdaptationSettings, MetaRLAgent
from recsim_meta.agents.pretraining import pretrain
from recsim_meta.agents.recommender_policy import get_device, read_model, write_model
from recsim_meta.atomic_files import atomic_directory, previous_of, staging_folders
from recsim_meta.config_files import config_yaml, read_config
from recsim_meta.envs import DOMAINS, MULTI_DOMAIN_ID
from recsim_meta.sim.tasks import Task, make_splits
from recsim_meta.sim.validation import Range, check_choice, check_fields

TRAINING_FILE = "training.json"
OPTIMIZER_FILE = "optimizer.pt"
TASK_SEED_STRIDE = 1000  # meta-test episode seeds of consecutive tasks are this far apart
META_TEST_KEYS = ("adaptation_episodes", "eval_episodes", "test_domain_tasks", "adaptation_draws")  # not training
MODEL_SIZES = ("hidden_size", "num_layers", "num_heads", "intermediate_size", "context_length")


@dataclass(frozen=True)
class MetaConfig:
    """Everything a meta-training run and its meta-test need (the YAML keys).

    Tasks: ``held_out_domain`` (leave-one-domain-out regime), ``num_cohorts`` per domain, ``task_seed``,
    ``num_variants`` procedural variants of each seen domain added to the training tasks (pretraining logs
    and meta-training both draw from them).
    Model: ``hidden_size``, ``num_layers``, ``num_heads``, ``intermediate_size``, ``context_length`` (memory).
    Pretraining: ``log_episodes`` of an epsilon-greedy oracle on the training tasks, ``pretrain_steps``.
    Meta-training: ``iterations`` of ``tasks_per_iteration`` tasks, each with ``support_episodes`` support users
    then ``query_episodes`` query users (one episode each; every task's users stepped together); ``ppo_epochs``
    passes of Adam at ``learning_rate`` (``meta_learning_rate`` for the learned inner learning rates and the
    policy temperature) over ``update_fraction`` of the iteration's steps (a random subsample); ``adaptation`` (the
    ``AdaptationSettings`` fields); a checkpoint every ``checkpoint_every`` iterations. With
    ``adaptation: {meta_hyperparameters: true}``, ``validation_tasks`` tasks of the validation split per
    iteration give the meta-gradient of the loss weights and discount (Adam at ``meta_learning_rate``).
    Fine-tuning meta-training: then ``finetune_iterations`` iterations of ``MetaRLAgent.finetuning_meta_step``
    (first-order MAML through the test-time fine-tuning), each task with ``finetune_support_episodes`` support
    and ``query_episodes`` query episodes; 0 (the default) skips it.
    Meta-test: ``adaptation_episodes`` (the curve's points), ``eval_episodes`` per task and point,
    ``test_domain_tasks`` cohorts of the held-out domain, ``finetune_steps`` of Adam at ``finetune_lr``
    for the fine-tuned baseline, ``adaptation_draws`` independent sets of adaptation episodes per task
    (the results after adaptation are means over them).
    """

    held_out_domain: str | None = "video"
    num_cohorts: int = 10
    task_seed: int = 0
    num_variants: int = 0
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 2
    intermediate_size: int = 128
    context_length: int = 20
    log_episodes: int = 300
    pretrain_steps: int = 800
    iterations: int = 100
    tasks_per_iteration: int = 6
    support_episodes: int = 2
    query_episodes: int = 2
    ppo_epochs: int = 3
    learning_rate: float = 3e-4
    meta_learning_rate: float = 1e-2
    checkpoint_every: int = 10
    validation_tasks: int = 2
    finetune_iterations: int = 0
    finetune_support_episodes: int = 5
    update_fraction: float = 1.0
    adaptation: dict[str, Any] = dataclasses.field(default_factory=dict)
    adaptation_episodes: tuple[int, ...] = (0, 1, 2, 5, 10)
    eval_episodes: int = 8
    test_domain_tasks: int = 4
    finetune_steps: int = 20
    finetune_lr: float = 1e-3
    adaptation_draws: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        positive = ("num_cohorts", "iterations", "tasks_per_iteration", "support_episodes", "query_episodes")
        positive += ("log_episodes", "pretrain_steps", "ppo_epochs", "checkpoint_every", "eval_episodes")
        positive += ("validation_tasks", "finetune_support_episodes", "adaptation_draws", "hidden_size")
        positive += ("num_layers", "num_heads", "intermediate_size", "context_length", "test_domain_tasks")
        positive += ("finetune_steps",)
        ranges = {name: Range(1) for name in positive}
        ranges |= {name: Range(0) for name in ("num_variants", "finetune_iterations", "task_seed", "seed")}
        ranges |= {"adaptation_episodes": Range(0, TASK_SEED_STRIDE)}
        ranges |= {name: Range(0, 10, open_low=True) for name in ("learning_rate", "meta_learning_rate", "finetune_lr")}
        ranges |= {"update_fraction": Range(0, 1, open_low=True)}
        check_fields(self, ranges)
        if not self.adaptation_episodes:
            raise ValueError("adaptation_episodes must list at least one number of episodes (0 for none)")
        if self.held_out_domain is not None:
            check_choice("held_out_domain", self.held_out_domain, DOMAINS)
        make_splits(  # the tasks must exist: checked now, before a run writes anything
            DOMAINS,
            held_out_domain=self.held_out_domain,
            num_cohorts=self.num_cohorts,
            num_variants=self.num_variants,
            seed=self.task_seed,
        )
        if self.adaptation_draws * max(self.adaptation_episodes) > TASK_SEED_STRIDE:
            raise ValueError(
                f"adaptation_draws x max(adaptation_episodes) must be <= {TASK_SEED_STRIDE} (the episode seeds of "
                f"one meta-test task), got {self.adaptation_draws} x {max(self.adaptation_episodes)}"
            )
        self.settings  # noqa: B018 (validates the adaptation keys)

    @property
    def settings(self) -> AdaptationSettings:
        accepted = [f.name for f in dataclasses.fields(AdaptationSettings)]
        unknown = sorted(set(self.adaptation) - set(accepted))
        if unknown:
            raise ValueError(f"unknown adaptation key(s) {unknown}; accepted: {', '.join(accepted)}")
        return AdaptationSettings(**self.adaptation)

    def training_keys(self) -> dict[str, Any]:
        """The keys that decide the meta-training run (all but ``META_TEST_KEYS``): what a resumed run must keep."""
        return {key: value for key, value in dataclasses.asdict(self).items() if key not in META_TEST_KEYS}

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> MetaConfig:
        """Read a config; unknown keys raise ``ValueError`` listing the accepted ones."""
        return read_config(cls, path, **overrides)

    def to_yaml(self) -> str:
        return config_yaml(self)

    def make_env(self, split: str = "train", **overrides: Any) -> gym.Env:
        """``MultiDomain-v0`` with this config's tasks, which runs any of its domains' tasks given to ``reset`` (the
        meta-test's held-out ones too); ``overrides`` are ``DomainConfig`` fields (e.g. ``slate_size``)."""
        return gym.make(
            MULTI_DOMAIN_ID,
            split=split,
            held_out_domain=self.held_out_domain,
            num_cohorts=self.num_cohorts,
            task_seed=self.task_seed,
            num_variants=self.num_variants,
            any_task=True,
            **overrides,
        )


def pretrained_model(
    config: MetaConfig, env: gym.Env, out: Path | None, progress: bool, device: torch.device | str
) -> BertRecommender:
    """The recommender pretrained on ``device`` on logs of the training tasks (read from ``out/pretrained``
    when there)."""
    if out is not None and (out / "pretrained").is_dir():
        return read_model(out / "pretrained").to(device)
    torch.manual_seed(config.seed)
    model_config = config_for_env(env, **{k: getattr(config, k) for k in MODEL_SIZES})
    model = BertRecommender(model_config, kg_edges_for_env(env, model_config), item_features_for_env(env, model_config))
    model.to(device)
    log = collect_logs(env, config.log_episodes, seed=config.seed, progress=progress)
    log_dir = None if out is None else out / "tensorboard" / "pretraining"
    pretrain(model, log, config.pretrain_steps, seed=config.seed, log_dir=log_dir, progress=progress)
    if out is not None:
        with atomic_directory(out / "pretrained") as staging:
            write_model(model, staging)
    return model


def save_checkpoint(agent: MetaRLAgent, optimizer: torch.optim.Optimizer, iteration: int, path: Path) -> None:
    """The agent, the optimizer state (``torch.save``, read back with ``weights_only``) and the iteration,
    atomically, keeping the checkpoint it replaces as ``checkpoint.previous``. ``training.json`` is written last:
    a staging folder that has it is complete."""
    with atomic_directory(path, keep_previous=True) as staging:
        agent.write(staging)
        torch.save(optimizer.state_dict(), staging / OPTIMIZER_FILE)
        (staging / TRAINING_FILE).write_text(json.dumps({"iterations_done": iteration}))


def iterations_done(folder: Path) -> int | None:
    """The iterations a checkpoint folder holds, or ``None`` when it is not complete (no readable ``training.json``)."""
    try:
        return int(json.loads((folder / TRAINING_FILE).read_text())["iterations_done"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def recover_checkpoint(path: Path) -> None:
    """Leave ``path`` (a run's ``checkpoint/``) as the newest complete checkpoint found beside it, the one before
    as ``checkpoint.previous``, and no staging folder: a kill while a checkpoint was written leaves an
    incomplete staging folder (dropped), or, between the renames, the new checkpoint complete in its staging
    folder and the old one moved aside (the new one is put in place)."""
    staged = [(iterations_done(folder), folder) for folder in staging_folders(path)]
    complete = [(done, folder) for done, folder in staged if done is not None]
    newest = max(complete, default=None, key=lambda pair: pair[0])
    current = iterations_done(path) if path.is_dir() else None
    if newest is not None and (current is None or newest[0] > current):
        if path.is_dir():
            shutil.rmtree(previous_of(path), ignore_errors=True)
            os.replace(path, previous_of(path))
        os.replace(newest[1], path)
    for _, folder in staged:
        shutil.rmtree(folder, ignore_errors=True)


def make_optimizer(agent: MetaRLAgent, config: MetaConfig) -> torch.optim.Optimizer:
    """Adam: the model at ``learning_rate``; the learning rates, the temperature and any meta-learned
    hyperparameters (a group of their own: only the meta-gradient moves them) at ``meta_learning_rate``."""
    groups = [
        {"params": agent.model.parameters(), "lr": config.learning_rate},
        {"params": agent.meta.loss_parameters(), "lr": config.meta_learning_rate},
    ]
    if agent.settings.meta_hyperparameters:
        groups.append({"params": agent.meta.hyper.parameters(), "lr": config.meta_learning_rate})
    return torch.optim.Adam(groups)


def load_checkpoint(
    path: Path, env: gym.Env, config: MetaConfig, device: torch.device | str = "auto"
) -> tuple[MetaRLAgent, torch.optim.Optimizer, int]:
    """The agent and optimizer of a checkpoint, on ``device`` whichever device wrote it, and the iterations done;
    ``ValueError`` naming the checkpoint when any of its files is missing or damaged (nothing is executed)."""
    try:
        agent = MetaRLAgent.load(path, env, device=device)
        optimizer = make_optimizer(agent, config)
        optimizer.load_state_dict(torch.load(path / OPTIMIZER_FILE, map_location=agent.device, weights_only=True))
        done = iterations_done(path)
        if done is None:
            raise ValueError(f"no readable {TRAINING_FILE}")
    except Exception as error:  # torch.load's EOFError, UnpicklingError, zip errors; damaged weights; ...
        raise ValueError(f"{path} is not a complete meta-training checkpoint: {error}") from None
    return agent, optimizer, done


def resume_checkpoint(
    path: Path, env: gym.Env, config: MetaConfig, device: torch.device | str
) -> tuple[MetaRLAgent, torch.optim.Optimizer, int]:
    """``load_checkpoint`` of the run's newest complete checkpoint (``recover_checkpoint``), falling back to
    ``checkpoint.previous`` (with a warning) when the newest is damaged."""
    recover_checkpoint(path)
    try:
        return load_checkpoint(path, env, config, device)
    except ValueError as error:
        previous = previous_of(path)
        if not previous.is_dir():
            raise
        warnings.warn(f"{error}; resuming from the checkpoint before it, {previous}", stacklevel=3)
        return load_checkpoint(previous, env, config, device)


def draw_tasks(rng: np.random.Generator, split: Sequence[Task], count: int) -> tuple[list[Task], list[int]]:
    """``count`` tasks of ``split`` drawn with replacement, and an episode seed for each."""
    chosen = [split[i] for i in rng.choice(len(split), count)]
    return chosen, [int(seed) for seed in rng.integers(2**31 - 1000, size=count)]


def meta_train(
    config: MetaConfig,
    out: str | Path,
    resume: bool = False,
    progress: bool = True,
    device: torch.device | str = "auto",
) -> MetaRLAgent:
    """Run (or with ``resume`` continue) the meta-training of the module docstring on ``device`` (as in
    ``MetaRLAgent``; a run may resume on another device); returns the agent.

    Raises:
        ValueError: ``out`` already holds a run and ``resume`` is off (nothing is overwritten), or
            ``resume`` with a checkpoint of a config with other training keys (``MetaConfig.training_keys``).
    """
    out = Path(out)
    config_file = out / "config.yaml"
    if config_file.exists():
        if not resume:
            raise ValueError(f"{out} already holds a run; pass resume=True (--resume) or choose another folder")
        saved = MetaConfig.from_yaml(config_file).training_keys()
        changed = sorted(key for key, value in config.training_keys().items() if saved[key] != value)
        if changed:
            raise ValueError(
                f"{config_file} differs from the given config in {', '.join(changed)}: resume with the same "
                f"training keys (only the meta-test's {', '.join(META_TEST_KEYS)} may change)"
            )
    env = config.make_env()  # everything is checked before anything is written
    out.mkdir(parents=True, exist_ok=True)
    for staging in staging_folders(out / "pretrained"):  # a pretraining cut short by a kill
        shutil.rmtree(staging, ignore_errors=True)
    config_file.write_text(config.to_yaml())
    checkpoint = out / "checkpoint"
    recover_checkpoint(checkpoint)
    if checkpoint.is_dir() or previous_of(checkpoint).is_dir():
        agent, optimizer, done = resume_checkpoint(checkpoint, env, config, device)
    else:
        device = get_device(device)
        model = pretrained_model(config, env, out, progress, device)
        agent = MetaRLAgent(model, env, config.settings, config.seed, device)
        optimizer = make_optimizer(agent, config)
        done = 0
    tasks = env.unwrapped.tasks
    learn_hyperparameters = config.settings.meta_hyperparameters
    validation_split = env.unwrapped.splits.validation
    from torch.utils.tensorboard import SummaryWriter

    # a resumed run drops what the last run logged after its checkpoint, so no iteration is logged twice
    writer = SummaryWriter(str(out / "tensorboard" / "meta"), purge_step=done or None)
    total = config.iterations + config.finetune_iterations
    bar = tqdm(
        range(done, total),
        desc="meta-training",
        initial=done,
        total=total,
        disable=not progress,
    )
    try:
        for iteration in bar:
            rng = np.random.default_rng([config.seed, iteration])
            torch.manual_seed(int(rng.integers(2**31)))
            agent.generator.manual_seed(int(rng.integers(2**31)))
            chosen, seeds = draw_tasks(rng, tasks, config.tasks_per_iteration)
            if iteration >= config.iterations:
                record = agent.finetuning_meta_step(
                    chosen,
                    config.finetune_support_episodes,
                    config.query_episodes,
                    seeds,
                    optimizer,
                    config.finetune_steps,
                    config.finetune_lr,
                )
            else:
                validation = None
                if learn_hyperparameters:  # drawn after the above: runs without it draw the same tasks and seeds
                    validation = draw_tasks(rng, validation_split, config.validation_tasks)
                record = agent.meta_step(
                    chosen,
                    config.support_episodes,
                    config.query_episodes,
                    seeds,
                    optimizer,
                    config.ppo_epochs,
                    validation,
                    config.update_fraction,
                )
            for name, value in record.items():
                writer.add_scalar(name, value, iteration)
            bar.set_postfix(query_return=f"{record['query/return']:.1f}", refresh=False)
            if (iteration + 1) % config.checkpoint_every == 0 or iteration + 1 == total:
                save_checkpoint(agent, optimizer, iteration + 1, checkpoint)
    finally:
        writer.close()
    return agent
