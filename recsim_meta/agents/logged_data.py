"""Logged interaction data: collect it with a behaviour policy in any env, save it as NPZ, load and validate it.

One row per step. The schema (``N`` rows, ``H`` history, ``M`` candidates, ``K`` slate slots, ``F`` / ``U``
feature columns, ``D`` domains):

| field | shape | dtype | content |
|---|---|---|---|
| ``episode`` | (N,) | int64 | episode number in the log |
| ``step`` | (N,) | int64 | step within the episode, from 0 |
| ``domain`` | (N,) | int64 | index into ``domains`` |
| ``history_ids`` | (N, H) | int64 | the observation's history, -1 where empty |
| ``history_responses`` | (N, H, 3) | float32 | clicked, reward, engagement of the history |
| ``candidate_ids`` | (N, M) | int64 | the candidates (item ids of the row's domain) |
| ``candidate_features`` | (N, M, F) | float32 | their features, columns ``feature_names`` |
| ``user_features`` | (N, U) | float32 | columns ``user_feature_names`` |
| ``slate`` | (N, K) | int64 | candidate positions recommended |
| ``position`` | (N,) | int64 | slate slot clicked, -1 for none |
| ``reward``, ``engagement`` | (N,) | float32 | the step's reward and the consumed item's engagement |

plus the metadata ``domains`` (D,) str, ``num_items`` (D,) int64, ``feature_names`` (F,) str,
``user_feature_names`` (U,) str, ``env_id`` str and ``schema_version`` int. Files hold arrays only and are
read with ``allow_pickle=False``.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import gymnasium as gym
import numpy as np
from tqdm.auto import tqdm

from recsim_meta.agents.baselines import BASELINES, RandomPolicy
from recsim_meta.agents.encoding import domain_envs
from recsim_meta.atomic_files import atomic_file

SCHEMA_VERSION = 1
ROW_FIELDS = {  # name: (dtype, number of axes)
    "episode": (np.int64, 1),
    "step": (np.int64, 1),
    "domain": (np.int64, 1),
    "history_ids": (np.int64, 2),
    "history_responses": (np.float32, 3),
    "candidate_ids": (np.int64, 2),
    "candidate_features": (np.float32, 3),
    "user_features": (np.float32, 2),
    "slate": (np.int64, 2),
    "position": (np.int64, 1),
    "reward": (np.float32, 1),
    "engagement": (np.float32, 1),
}
META_FIELDS = ("domains", "num_items", "feature_names", "user_feature_names", "env_id", "schema_version")


@dataclass(frozen=True)
class InteractionLog:
    """A log in memory: the row fields of the module's schema, then its metadata."""

    episode: np.ndarray
    step: np.ndarray
    domain: np.ndarray
    history_ids: np.ndarray
    history_responses: np.ndarray
    candidate_ids: np.ndarray
    candidate_features: np.ndarray
    user_features: np.ndarray
    slate: np.ndarray
    position: np.ndarray
    reward: np.ndarray
    engagement: np.ndarray
    domains: tuple[str, ...]
    num_items: tuple[int, ...]
    feature_names: tuple[str, ...]
    user_feature_names: tuple[str, ...]
    env_id: str

    def __len__(self) -> int:
        return len(self.episode)

    @property
    def clicked(self) -> np.ndarray:
        return self.position >= 0

    @property
    def clicked_item(self) -> np.ndarray:
        """Item id consumed in each row, -1 for none."""
        slot = np.maximum(self.position, 0)
        chosen = self.slate[np.arange(len(self)), slot]
        return np.where(self.clicked, self.candidate_ids[np.arange(len(self)), chosen], -1)

    def select(self, rows: np.ndarray) -> InteractionLog:
        """The log restricted to ``rows`` (indices or a boolean mask)."""
        return replace(self, **{name: getattr(self, name)[rows] for name in ROW_FIELDS})


def collect_logs(
    env: gym.Env, episodes: int, behaviour: str = "oracle", epsilon: float = 0.3, seed: int = 0, progress: bool = True
) -> InteractionLog:
    """Run an epsilon-greedy behaviour policy for ``episodes`` episodes (seeds ``seed``, ``seed + 1``, ...).

    Args:
        env: any recsim_meta env (``MultiDomain-v0`` logs every domain in its shared layout).
        behaviour: a ``BASELINES`` name; with probability ``epsilon`` a step's slate is random instead.
    """
    if behaviour not in BASELINES:
        raise ValueError(f"unknown behaviour policy {behaviour!r}; accepted: {', '.join(BASELINES)}")
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon must be in [0, 1], got {epsilon!r}")
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes!r}")
    unwrapped = env.unwrapped
    envs = domain_envs(env)
    domains = tuple(envs)
    policy, explore = BASELINES[behaviour](env, seed), RandomPolicy(env, seed)
    rng = np.random.default_rng(seed)
    rows: dict[str, list] = {name: [] for name in ROW_FIELDS}
    for episode in tqdm(range(episodes), desc=f"logging {env.spec.id if env.spec else 'env'}", disable=not progress):
        observation, _ = env.reset(seed=seed + episode)
        done, step = False, 0
        while not done:
            actor = explore if rng.random() < epsilon else policy
            action, _ = actor.predict(observation, deterministic=True)
            slate = np.atleast_1d(np.asarray(action, dtype=np.int64))
            m = len(observation["candidate_ids"])
            row = {
                "episode": episode,
                "step": step,
                "domain": domains.index(unwrapped.config.name),  # MultiDomain-v0: the current domain
                "history_ids": observation["history_ids"],
                "history_responses": observation["history_responses"].reshape(-1, 3),
                "candidate_ids": observation["candidate_ids"],
                "candidate_features": observation["candidate_features"].reshape(m, -1),
                "user_features": observation["user_features"],
                "slate": slate,
            }
            observation, reward, terminated, truncated, info = env.step(action)
            row.update(position=info["position"], reward=reward, engagement=observation["history_responses"][-1])
            for name, value in row.items():
                rows[name].append(value)
            done, step = terminated or truncated, step + 1
    arrays = {name: np.asarray(values, dtype=ROW_FIELDS[name][0]) for name, values in rows.items()}
    return InteractionLog(
        **arrays,
        domains=domains,
        num_items=tuple(e.config.num_items for e in envs.values()),
        feature_names=tuple(unwrapped.feature_names),
        user_feature_names=tuple(unwrapped.user_feature_names),
        env_id=env.spec.id if env.spec else type(unwrapped).__name__,
    )


def save_logs(log: InteractionLog, path: str | os.PathLike) -> None:
    """Write ``log`` to ``path`` (``.npz``) atomically: a crash leaves the old file or the new one, never half."""
    arrays = {name: getattr(log, name) for name in ROW_FIELDS}
    meta = {
        "domains": np.array(log.domains, dtype=str),
        "num_items": np.array(log.num_items, dtype=np.int64),
        "feature_names": np.array(log.feature_names, dtype=str),
        "user_feature_names": np.array(log.user_feature_names, dtype=str),
        "env_id": np.array(log.env_id, dtype=str),
        "schema_version": np.array(SCHEMA_VERSION),
    }
    with atomic_file(path, "wb") as file:
        np.savez_compressed(file, **arrays, **meta)


def load_logs(path: str | os.PathLike, drop_bad_rows: bool = False) -> InteractionLog:
    """Read and validate a log written by ``save_logs``; nothing in the file is executed.

    Structural problems (a missing field, a wrong dtype or shape, another schema version) raise
    ``ValueError`` naming the file and the field. Rows with values out of range (ids outside the
    catalogue, slate positions outside the candidates, non-finite numbers, ...) raise ``ValueError``
    listing each check and the rows that fail it, or, with ``drop_bad_rows=True``, are dropped with a
    warning carrying the same report.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as file:
            data = {name: file[name] for name in file.files}
    except (OSError, ValueError, EOFError) as error:
        raise ValueError(f"{path} is not a readable NPZ interaction log: {error}") from None
    missing = [name for name in (*ROW_FIELDS, *META_FIELDS) if name not in data]
    if missing:
        raise ValueError(f"{path} is not an interaction log: missing field(s) {', '.join(missing)}")
    version = data["schema_version"]
    if version.shape != () or int(version) != SCHEMA_VERSION:
        raise ValueError(f"{path} has schema version {version}, this recsim_meta reads version {SCHEMA_VERSION}")
    n = len(data["episode"])
    for name, (dtype, ndim) in ROW_FIELDS.items():
        array = data[name]
        if array.dtype != dtype or array.ndim != ndim or len(array) != n:
            raise ValueError(
                f"{path}: field {name!r} must be {np.dtype(dtype).name} with {ndim} axes and {n} rows, "
                f"got {array.dtype} with shape {array.shape}"
            )
    meta = _metadata(path, data)
    _check_widths(path, data, meta)
    report = _bad_rows(data, meta)
    if report:
        lines = "; ".join(f"{check}: rows {_preview(rows)}" for check, rows in report.items())
        bad = np.unique(np.concatenate(list(report.values())))
        message = f"{path}: {len(bad)} of {n} rows are invalid ({lines})"
        if not drop_bad_rows:
            raise ValueError(message + "; pass drop_bad_rows=True to skip them")
        warnings.warn(message + "; dropped", stacklevel=2)
        keep = np.ones(n, dtype=bool)
        keep[bad] = False
        data = {name: data[name][keep] for name in ROW_FIELDS}
    return InteractionLog(**{name: data[name] for name in ROW_FIELDS}, **meta)


def _metadata(path: Path, data: dict[str, np.ndarray]) -> dict:
    names = {}
    for name in ("domains", "feature_names", "user_feature_names"):
        if data[name].dtype.kind != "U" or data[name].ndim != 1:
            raise ValueError(f"{path}: field {name!r} must be a 1-D array of strings, got {data[name].dtype}")
        names[name] = tuple(str(x) for x in data[name])
    num_items = data["num_items"]
    if num_items.dtype.kind != "i" or num_items.shape != (len(names["domains"]),) or (num_items < 1).any():
        raise ValueError(f"{path}: 'num_items' must hold one positive catalogue size per domain, got {num_items}")
    if data["env_id"].dtype.kind != "U" or data["env_id"].shape != ():
        raise ValueError(f"{path}: 'env_id' must be a string")
    return {**names, "num_items": tuple(int(x) for x in num_items), "env_id": str(data["env_id"])}


def _check_widths(path: Path, data: dict[str, np.ndarray], meta: dict) -> None:
    """Per-row shapes must agree with each other and with the metadata."""
    h, m = data["history_ids"].shape[1], data["candidate_ids"].shape[1]
    expected = {
        "history_responses": (h, 3),
        "candidate_features": (m, len(meta["feature_names"])),
        "user_features": (len(meta["user_feature_names"]),),
    }
    for name, shape in expected.items():
        if data[name].shape[1:] != shape:
            raise ValueError(f"{path}: field {name!r} must have rows of shape {shape}, got {data[name].shape[1:]}")
    if not 1 <= data["slate"].shape[1] <= m:
        raise ValueError(f"{path}: 'slate' must have 1 to {m} slots, got {data['slate'].shape[1]}")


def _bad_rows(data: dict[str, np.ndarray], meta: dict) -> dict[str, np.ndarray]:
    """Rows failing each value check, by check (only checks some row fails)."""
    domain = data["domain"]
    valid_domain = (domain >= 0) & (domain < len(meta["domains"]))
    size = np.asarray(meta["num_items"])[np.where(valid_domain, domain, 0)][:, None]
    m = data["candidate_ids"].shape[1]
    floats = ("history_responses", "candidate_features", "user_features", "reward", "engagement")
    checks = {
        f"domain outside [0, {len(meta['domains'])})": ~valid_domain,
        "episode or step negative": (data["episode"] < 0) | (data["step"] < 0),
        "history id outside [-1, num_items)": ((data["history_ids"] < -1) | (data["history_ids"] >= size)).any(1),
        "candidate id outside [0, num_items)": ((data["candidate_ids"] < 0) | (data["candidate_ids"] >= size)).any(1),
        f"slate position outside [0, {m})": ((data["slate"] < 0) | (data["slate"] >= m)).any(1),
        f"clicked slot outside [-1, {data['slate'].shape[1]})": (data["position"] < -1)
        | (data["position"] >= data["slate"].shape[1]),
        "non-finite number": np.logical_or.reduce(
            [~np.isfinite(data[name].reshape(len(domain), -1)).all(1) for name in floats]
        ),
    }
    return {check: np.flatnonzero(failed) for check, failed in checks.items() if failed.any()}


def _preview(rows: np.ndarray, limit: int = 5) -> str:
    shown = ", ".join(str(r) for r in rows[:limit])
    return shown + (f" and {len(rows) - limit} more" if len(rows) > limit else "")
