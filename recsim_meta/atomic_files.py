"""Writes that a crash, a kill, a Ctrl-C or a concurrent writer never leave half done: staged beside the target,
synced to disk, then moved over it with ``os.replace`` (and the folder synced, so the rename itself is durable).
What is written gets the modes the user's umask gives new files and folders, as ``open`` and ``mkdir`` would."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

PREVIOUS_SUFFIX = ".previous"
"""``atomic_directory(path, keep_previous=True)`` keeps the version it replaces as ``path`` + this."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _sync(path: Path) -> None:
    """Flush ``path`` (a file or a folder: its entries) to disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def sync_tree(path: Path) -> None:
    """Flush every file and folder under ``path`` (and ``path``) to disk."""
    for folder, _, files in os.walk(path):
        for name in files:
            _sync(Path(folder) / name)
        _sync(Path(folder))


def previous_of(path: str | os.PathLike) -> Path:
    """Where ``atomic_directory(path, keep_previous=True)`` keeps the version before the current one."""
    path = Path(path)
    return path.with_name(path.name + PREVIOUS_SUFFIX)


def staging_folders(path: str | os.PathLike) -> list[Path]:
    """The staging folders ``atomic_directory(path)`` left beside ``path`` (a write under way or cut by a kill)."""
    path = Path(path)
    return sorted(p for p in path.parent.glob(f".{path.name}-*") if p.is_dir())


@contextmanager
def atomic_directory(path: str | os.PathLike, keep_previous: bool = False) -> Iterator[Path]:
    """Yields an empty staging folder next to ``path`` (``.NAME-xxxx``) that replaces ``path`` when the block
    succeeds, after its files are synced to disk; on any error (or Ctrl-C) the staging folder is removed and
    ``path`` is left as it was. With ``keep_previous`` the replaced version is kept as ``previous_of(path)``
    (one version: the older one goes). A kill between the two renames of a replacement leaves the old version
    as ``previous_of(path)`` (or ``.NAME-old``) and the new one complete in its staging folder, which a reader
    can recover (``meta_training.recover_checkpoint`` does)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
    os.chmod(staging, 0o777 & ~_umask())
    try:
        yield staging
        for folder, _, files in os.walk(staging):
            for name in files:
                os.chmod(Path(folder) / name, 0o666 & ~_umask())
        sync_tree(staging)
        old = previous_of(path) if keep_previous else path.with_name(f".{path.name}-old")
        if path.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
        os.replace(staging, path)
        _sync(path.parent)
        if not keep_previous:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


@contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "w", **open_args) -> Iterator[IO]:
    """Yields a file opened with ``mode`` (``"w"`` or ``"wb"``) and ``open_args`` on a staging file next to
    ``path``, which replaces ``path`` when the block succeeds, synced to disk; on any error the staging file is
    removed and ``path`` is left as it was. Of two processes writing the same path, the last to finish wins whole."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_file writes a whole file: mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        os.chmod(staging, 0o666 & ~_umask())
        with os.fdopen(handle, mode, **open_args) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(staging, path)
        _sync(path.parent)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise
