"""Kills at any moment: meta-training resumes from the newest complete checkpoint (never from scratch while one
exists), a damaged checkpoint falls back to the one before, the benchmark's workers die with their parent and
their file locks with them, and what is written atomically keeps the user's file modes."""

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tiny_configs import TINY

from recsim_meta.agents import meta_training
from recsim_meta.agents.meta_training import (
    OPTIMIZER_FILE,
    TRAINING_FILE,
    MetaConfig,
    iterations_done,
    meta_train,
    recover_checkpoint,
    resume_checkpoint,
)
from recsim_meta.atomic_files import atomic_directory, atomic_file, previous_of, staging_folders


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A tiny run of 3 iterations with a checkpoint after each: ``checkpoint/`` (3) and ``checkpoint.previous/`` (2)."""
    out = tmp_path_factory.mktemp("crash") / "run"
    meta_train(MetaConfig(**TINY), out, progress=False)
    return out


def copy_run(run: Path, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(run, out)
    return out


def as_iteration(folder: Path, done: int) -> Path:
    (folder / TRAINING_FILE).write_text(json.dumps({"iterations_done": done}))
    return folder


def staged(out: Path, name: str, source: Path, done: int | None) -> Path:
    """A staging folder of ``checkpoint`` as a kill leaves it: complete (a copy of ``source`` for ``done``), or cut
    short before ``training.json`` (``done`` None)."""
    folder = out / f".checkpoint-{name}"
    shutil.copytree(source, folder)
    if done is None:
        (folder / TRAINING_FILE).unlink()
        return folder
    return as_iteration(folder, done)


@pytest.mark.parametrize("moment", ["writing", "staged", "previous removed", "between the renames", "after"])
def test_a_kill_at_any_moment_of_a_checkpoint_write_resumes_from_the_newest_complete_one(finished, tmp_path, moment):
    out = copy_run(finished, tmp_path)
    checkpoint, previous = out / "checkpoint", previous_of(out / "checkpoint")
    assert iterations_done(checkpoint) == 3 and iterations_done(previous) == 2
    newest = {"writing": 3, "staged": 4, "previous removed": 4, "between the renames": 4, "after": 4}[moment]
    staging = staged(out, "x", checkpoint, None if moment == "writing" else 4)
    if moment in ("previous removed", "between the renames", "after"):
        shutil.rmtree(previous)
    if moment in ("between the renames", "after"):
        os.replace(checkpoint, previous)
    if moment == "after":
        os.replace(staging, checkpoint)
    recover_checkpoint(checkpoint)
    assert iterations_done(checkpoint) == newest and not staging_folders(checkpoint)
    assert iterations_done(previous) in (2, 3)
    _, _, done = resume_checkpoint(checkpoint, MetaConfig(**TINY).make_env(), MetaConfig(**TINY), "cpu")
    assert done == newest


def test_resume_after_a_kill_between_the_renames_runs_only_what_is_left(finished, tmp_path, monkeypatch):
    out = copy_run(finished, tmp_path)
    checkpoint, previous = out / "checkpoint", previous_of(out / "checkpoint")
    staging = staged(out, "x", previous, 2)  # iteration 2 was being written over iteration 1 when killed
    shutil.rmtree(checkpoint)
    as_iteration(previous, 1)
    steps = []
    real_step = meta_training.MetaRLAgent.meta_step
    monkeypatch.setattr(meta_training.MetaRLAgent, "meta_step", lambda *a, **k: steps.append(1) or real_step(*a, **k))
    meta_train(MetaConfig(**TINY), out, resume=True, progress=False)
    assert not staging.exists() and len(steps) == 1 and iterations_done(checkpoint) == 3


def test_a_damaged_checkpoint_falls_back_to_the_one_before_and_says_so(finished, tmp_path):
    out = copy_run(finished, tmp_path)
    (out / "checkpoint" / OPTIMIZER_FILE).write_bytes(b"not a torch file")
    config = MetaConfig(**TINY)
    with pytest.raises(ValueError, match="is not a complete meta-training checkpoint"):
        meta_training.load_checkpoint(out / "checkpoint", config.make_env(), config, "cpu")
    with pytest.warns(UserWarning, match="resuming from the checkpoint before it"):
        _, _, done = resume_checkpoint(out / "checkpoint", config.make_env(), config, "cpu")
    assert done == 2
    shutil.rmtree(previous_of(out / "checkpoint"))
    with pytest.raises(ValueError, match="not a complete meta-training checkpoint"):
        resume_checkpoint(out / "checkpoint", config.make_env(), config, "cpu")


def test_a_config_error_writes_nothing_so_a_fixed_config_runs(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(ValueError, match="num_cohorts"):
        meta_train(MetaConfig(**{**TINY, "num_cohorts": 4}), out, progress=False)
    assert not out.exists()


def test_atomic_writes_keep_the_users_file_modes(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_directory(tmp_path / "folder") as staging:
            (staging / "weights").write_text("x")
        with atomic_file(tmp_path / "file") as file:
            file.write("x")
    finally:
        os.umask(old)
    assert (tmp_path / "folder").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "folder" / "weights").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "file").stat().st_mode & 0o777 == 0o644


def children_of(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux ``/proc``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


PARENT = """
import time
from recsim_meta.evaluation.parallel import parallel_map
for _ in parallel_map(time.sleep, [60, 60], workers=2):
    pass
"""


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process table in /proc")
@pytest.mark.parametrize("signal_number", [signal.SIGKILL, signal.SIGTERM])
def test_workers_exit_when_their_parent_dies(signal_number):
    parent = subprocess.Popen([sys.executable, "-c", PARENT])
    deadline = time.time() + 60
    workers = []
    while time.time() < deadline and len(workers) < 2:  # the two workers (and multiprocessing's resource tracker)
        time.sleep(0.2)
        workers = [pid for pid in children_of(parent.pid) if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()]
    assert len(workers) == 2, "the workers did not start"
    time.sleep(1.0)  # they are busy in time.sleep(60)
    parent.send_signal(signal_number)
    parent.wait()
    deadline = time.time() + 10
    while time.time() < deadline and any(alive(pid) for pid in workers):
        time.sleep(0.2)
    assert not any(alive(pid) for pid in workers)


HOLDER = """
import fcntl, sys, time
lock = open(sys.argv[1], "w")
fcntl.flock(lock, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(60)
"""


def test_a_lock_held_by_a_killed_worker_is_taken_over(tmp_path):
    path = tmp_path / ".meta.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    with open(path, "w") as lock:
        with pytest.raises(BlockingIOError):
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        holder.kill()
        holder.wait()
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the kernel released the dead worker's lock


KILLER = """
import os, signal, sys
from recsim_meta.agents.meta_training import MetaConfig, meta_train
import recsim_meta.atomic_files as atomic_files

real_replace, calls = os.replace, []
def replace(source, target):
    real_replace(source, target)
    calls.append(str(target))
    if len(calls) == int(sys.argv[2]):
        os.kill(os.getpid(), signal.SIGKILL)
os.replace = replace
meta_train(MetaConfig.from_yaml(sys.argv[3]), sys.argv[1], progress=False)
"""


@pytest.mark.expensive
@pytest.mark.parametrize("rename", range(1, 7))  # pretrained/, then 1 + 2 + 2 for the checkpoints
def test_a_real_kill_after_any_rename_of_a_run_resumes_from_the_newest_complete_checkpoint(tmp_path, rename):
    """Meta-training (3 iterations, a checkpoint after each) killed right after its ``rename``-th ``os.replace``:
    between the two renames of a checkpoint too. The resume never starts over while a checkpoint exists."""
    config = tmp_path / "tiny.yaml"
    config.write_text(MetaConfig(**TINY).to_yaml())
    out = tmp_path / "run"
    killed = subprocess.run([sys.executable, "-c", KILLER, str(out), str(rename), str(config)], check=False)
    finished = killed.returncode == 0
    complete = [
        d for d in (iterations_done(f) for f in [out / "checkpoint", *staging_folders(out / "checkpoint")]) if d
    ]
    complete += [d for d in [iterations_done(previous_of(out / "checkpoint"))] if d]
    newest = max(complete, default=0)
    if not finished:
        recover_checkpoint(out / "checkpoint")
        assert iterations_done(out / "checkpoint") == newest or newest == 0
    meta_train(MetaConfig(**TINY), out, resume=(out / "config.yaml").exists(), progress=False)
    assert iterations_done(out / "checkpoint") == 3
