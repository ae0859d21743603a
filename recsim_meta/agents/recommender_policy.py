"""``RecommenderPolicy``: a ``BertRecommender`` acting in an env, with SB3-like ``predict`` and safe ``save``/``load``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from stable_baselines3.common.utils import get_device
from transformers.utils import logging as hf_logging

from recsim_meta.agents.baselines import top_k_action
from recsim_meta.agents.bert_recommender import BertRecommender, RecommenderConfig
from recsim_meta.agents.encoding import ObservationEncoder, config_for_env, item_features_for_env, kg_edges_for_env
from recsim_meta.atomic_files import atomic_directory

CONFIG_FILE = "recommender.json"
BERT_DIR = "bert"
BERT_WEIGHTS = "model.safetensors"
REST_WEIGHTS = "heads.safetensors"


class RecommenderPolicy:
    """Recommends the top-K candidates by the model's scores (``deterministic``) or samples K without replacement.

    Args:
        model: the recommender.
        env: the env it acts in (its layout and domains must be covered by the model).
        seed: seed of the sampling in non-deterministic ``predict``.
        device: where the model runs, as in stable-baselines3: ``"auto"`` (CUDA when available, else the
            CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ... The model is moved there.
    """

    def __init__(
        self, model: BertRecommender, env: gym.Env, seed: int | None = None, device: torch.device | str = "auto"
    ) -> None:
        self.device = get_device(device)
        self.model = model.to(self.device)
        self.env = env
        self.encoder = ObservationEncoder(model.config, env)
        self.action_space = env.action_space
        self.generator = torch.Generator().manual_seed(0 if seed is None else seed)

    @classmethod
    def for_env(
        cls, env: gym.Env, seed: int | None = None, device: torch.device | str = "auto", **sizes: Any
    ) -> RecommenderPolicy:
        """A fresh model sized for ``env`` (``sizes``: ``hidden_size``, ``num_layers``, ... of ``RecommenderConfig``)."""
        if seed is not None:
            torch.manual_seed(seed)
        config = config_for_env(env, **sizes)
        model = BertRecommender(config, kg_edges_for_env(env, config), item_features_for_env(env, config))
        return cls(model, env, seed, device)

    @torch.no_grad()
    def scores(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        self.model.eval()
        return self.model(self.encoder.encode(observation)).scores.cpu().numpy()

    def predict(
        self,
        observation: dict[str, np.ndarray],
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray | int, None]:
        scores = torch.as_tensor(self.scores(observation)[0])
        if not deterministic:
            scores = gumbel_perturbed(scores, self.generator)
        return top_k_action(scores.numpy(), self.action_space), None

    # ----------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike) -> None:
        """Write ``path/`` atomically: ``bert/`` (``save_pretrained``), the rest in safetensors, the config in JSON."""
        with atomic_directory(path) as staging:
            write_model(self.model, staging)

    @classmethod
    def load(
        cls, path: str | os.PathLike, env: gym.Env, seed: int | None = None, device: torch.device | str = "auto"
    ) -> RecommenderPolicy:
        """Load a saved policy for ``env`` onto ``device`` (whichever device saved it); files are parsed as
        JSON and safetensors only, never executed.

        Raises:
            ValueError: a missing, corrupted or foreign file, naming it.
        """
        return cls(read_model(path), env, seed, device)


def gumbel_perturbed(scores: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``scores`` plus Gumbel noise: their top K is K draws without replacement from ``softmax(scores)``.
    The noise comes from the CPU ``generator`` on any device, so a seed gives the same draws everywhere."""
    uniform = torch.rand(scores.shape, generator=generator).clamp(1e-12, 1.0).to(scores.device)
    return scores - torch.log(-torch.log(uniform))


def write_model(model: BertRecommender, folder: Path) -> None:
    """``folder/bert/`` (``save_pretrained``), the other weights in safetensors, the config in JSON."""
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # its "Writing model shards" bar on every checkpoint is noise
    try:
        model.bert.save_pretrained(folder / BERT_DIR, safe_serialization=True)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    rest = {k: v.cpu().contiguous() for k, v in model.state_dict().items() if not k.startswith("bert.")}
    save_file(rest, folder / REST_WEIGHTS)
    (folder / CONFIG_FILE).write_text(model.config.to_json())


def read_safetensors(file: Path) -> dict[str, torch.Tensor]:
    """The tensors of ``file``; ``ValueError`` naming it when it is not a valid safetensors file."""
    try:
        return load_file(file)
    except (SafetensorError, OSError, ValueError) as error:
        raise ValueError(f"{file} is not a valid safetensors file: {error}") from None


def read_model(path: str | os.PathLike) -> BertRecommender:
    """The model ``write_model`` wrote to ``path``, on the CPU; ``ValueError`` naming a missing, corrupted or
    foreign file."""
    path = Path(path)
    files = {name: path / name for name in (CONFIG_FILE, REST_WEIGHTS, f"{BERT_DIR}/{BERT_WEIGHTS}")}
    missing = [name for name, file in files.items() if not file.is_file()]
    if missing:
        raise ValueError(f"{path} is not a saved RecommenderPolicy: missing {', '.join(missing)}")
    config = RecommenderConfig.from_json(files[CONFIG_FILE].read_text())
    rest = read_safetensors(files[REST_WEIGHTS])
    bert = read_safetensors(files[f"{BERT_DIR}/{BERT_WEIGHTS}"])
    missing = sorted({"edges", "item_features"} - set(rest))
    if missing:
        raise ValueError(f"{files[REST_WEIGHTS]} has no {missing} tensor(s): not a RecommenderPolicy file")
    try:
        model = BertRecommender(config, rest["edges"].numpy(), rest["item_features"].numpy())
    except ValueError as error:
        raise ValueError(f"{path}: the saved KG or item features do not fit the saved config: {error}") from None
    try:
        model.load_state_dict({**rest, **{f"bert.{k}": v for k, v in bert.items()}}, strict=True)
    except RuntimeError as error:
        raise ValueError(f"{path}: the weights do not fit the saved config: {error}") from None
    return model
