"""The benchmark: every method on every test task and seed, after several budgets of task-specific env steps.

``run_benchmark(config, out)`` writes under ``out/``:

- ``models/seed<s>/``: what is trained once per seed on the training tasks, by the first job that needs it:
  the meta-RL run (``meta/``, whose ``pretrained/`` is the BERT recommender without meta-learning) and the
  multi-task PPO (``multitask_ppo/``);
- ``results.csv``: one row per (method, task, seed, budget), appended as each run finishes (``ResultsFile``):
  a crash loses no finished run and a rerun skips them;
- ``tensorboard/``: the SB3 runs; ``report.md``, ``sample_efficiency.png``, ``domains.png`` (``report.py``).

Every method acts in ``MultiDomain-v0`` (the meta config's tasks and layout) fixed to one test task: the
held-out cohorts of the seen domains and cohorts of the left-out domain. A method may use ``budget`` steps of
the task before it is evaluated greedily on ``eval_episodes`` episodes whose seeds depend only on the task and
seed, so all methods meet the same users. ``steps`` records the task steps a method really took (SB3 rounds up
to whole rollouts; the BERT methods to whole episodes). ``score`` is ``normalized_score`` of the return: 0 for the
random policy, 1 for the planning oracle (the task's shipped reference scores). The SB3 agents (``SB3_METHODS``:
SB3's ``MultiInputPolicy`` or this package's slate policies) train through the native ``VecEnv``
(``training_envs``) with the hyperparameter file's ``n_envs`` users of the task at once. DQN acts in the
single-item version of the task (``slate_size=1``) and is scored against the references of that version.
Every learner runs on the CPU.
"""

from __future__ import annotations

import dataclasses
import fcntl
import functools
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch

from recsim_meta.agents.greedy import GreedyOneStepModel
from recsim_meta.config_files import config_yaml, read_config
from recsim_meta.envs import MULTI_DOMAIN_ID, PRESETS
from recsim_meta.envs.wrappers import FixedTask
from recsim_meta.evaluation.methods import METHODS, REFERENCES, SB3_METHODS
from recsim_meta.evaluation.metrics import SlateMetrics
from recsim_meta.evaluation.references import normalized_score, reference_policy
from recsim_meta.evaluation.report import write_report
from recsim_meta.evaluation.results import ResultsFile, run_all
from recsim_meta.evaluation.rollout import run_episodes
from recsim_meta.sim.tasks import Task
from recsim_meta.sim.validation import UNIT, Range, check_choice, check_fields, check_integer

KEY = ("method", "regime", "task", "seed", "budget")
METRICS = ("return", "score", "ctr", "session_length", "diversity", "coverage")
COLUMNS = (*KEY, "steps", *METRICS, "seconds")


@dataclass(frozen=True)
class BenchmarkConfig:
    """The benchmark's YAML keys.

    ``meta_config`` (a ``MetaConfig`` YAML, with ``meta_overrides``) sets the tasks, the env layout and the
    meta-RL training of each seed; ``hyperparameters`` is the folder of rl-zoo-style SB3 files. ``methods``
    (``METHODS``), ``seeds``, ``budgets`` of task-specific steps, ``cohorts_per_domain`` held-out cohorts of
    each seen domain and ``test_domain_tasks`` cohorts of the left-out one, ``eval_episodes`` per run,
    ``multitask_steps`` of multi-task PPO pretraining per seed, ``adaptation_mode`` of the meta-RL agent
    (``in_context``, ``gradient`` or ``both``) with, when ``adaptation_steps`` is set, that many Meta-SGD steps at
    ``adaptation_lr_scale`` times its learned rates (``MetaRLAgent.with_adaptation``), ``greedy_epsilon`` of
    the greedy model's exploration, and ``method_budgets``: a method's own budgets in place of ``budgets`` (the
    methods that adapt on whole episodes one at a time, as the meta-RL agent does, beside SB3's 10^6 steps).
    """

    meta_config: str = "experiments/meta_quick.yaml"
    meta_overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
    hyperparameters: str = "experiments/hyperparams"
    methods: tuple[str, ...] = METHODS
    seeds: tuple[int, ...] = (0, 1, 2)
    budgets: tuple[int, ...] = (0, 500, 2000)
    cohorts_per_domain: int = 1
    test_domain_tasks: int = 2
    eval_episodes: int = 10
    multitask_steps: int = 20000
    adaptation_mode: str = "gradient"
    adaptation_steps: int | None = None
    adaptation_lr_scale: float = 1.0
    greedy_epsilon: float = 0.1
    method_budgets: dict[str, list[int]] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        from recsim_meta.agents.meta_rl import MODES

        ranges = {name: Range(0) for name in ("seeds", "budgets", "cohorts_per_domain", "test_domain_tasks")}
        ranges |= {"multitask_steps": Range(0), "eval_episodes": Range(1), "adaptation_steps": Range(0)}
        ranges |= {"adaptation_lr_scale": Range(0, 100, open_low=True), "greedy_epsilon": UNIT}
        check_fields(self, ranges)
        if not self.methods:
            raise ValueError(f"no methods given; accepted: {', '.join(METHODS)}")
        for method in self.methods:
            check_choice("method", method, METHODS)
        if not self.seeds or 0 not in self.budgets:
            raise ValueError(f"need seeds and budgets (integers >= 0, including 0), got {self.seeds}, {self.budgets}")
        check_choice("adaptation_mode", self.adaptation_mode, MODES)
        for method, budgets in self.method_budgets.items():
            check_choice("method of method_budgets", method, METHODS)
            if not isinstance(budgets, (list, tuple)) or 0 not in budgets:
                raise ValueError(f"method_budgets[{method!r}] must list budgets including 0, got {budgets!r}")
            for budget in budgets:
                check_integer(f"method_budgets[{method!r}]", budget, Range(0))
        self.meta  # noqa: B018 (reads and checks the meta config now, not in the middle of a run)

    @functools.cached_property
    def meta(self):
        from recsim_meta.agents.meta_training import MetaConfig

        return MetaConfig.from_yaml(self.meta_config, **self.meta_overrides)

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> BenchmarkConfig:
        return read_config(cls, path, **overrides)

    def tasks(self) -> list[tuple[str, Task]]:
        """``(regime, task)`` pairs: the first ``cohorts_per_domain`` held-out cohorts of each seen domain, then
        the first ``test_domain_tasks`` cohorts of the left-out domain."""
        splits = self.meta.make_env().unwrapped.splits
        chosen = []
        for domain in dict.fromkeys(t.domain for t in splits.test_cohorts):
            cohorts = [t for t in splits.test_cohorts if t.domain == domain][: self.cohorts_per_domain]
            chosen += [("held_out_cohorts", t) for t in cohorts]
        return chosen + [("held_out_domain", t) for t in splits.test_domain[: self.test_domain_tasks]]


def task_name(task: Task) -> str:
    return f"{task.domain}/{task.cohort}"


# --------------------------------------------------------------------------- what each seed trains once
SHARED_MODELS = {"bert": "meta", "meta_rl": "meta", "meta_finetuned": "meta", "multitask_ppo": "multitask_ppo"}
"""Methods that start from a model trained once per seed on the training tasks, and that model's folder."""


def seed_folder(out: Path, seed: int) -> Path:
    return out / "models" / f"seed{seed}"


def meta_run(job: dict[str, Any]) -> Path:
    """The meta-RL run folder of ``job``'s seed (``pretrained/``: the recommender; ``checkpoint/``: the agent)."""
    return seed_folder(Path(job["out"]), job["seed"]) / "meta"


def ensure_shared_model(job: dict[str, Any]) -> None:
    """Train the per-seed model ``job``'s method starts from unless it is there: the meta-RL run (whose
    ``pretrained/`` is the recommender without meta-learning) or the multi-task PPO. A file lock makes
    concurrent jobs of the seed wait for one training; a killed meta-training resumes from its checkpoint."""
    model = SHARED_MODELS.get(job["method"])
    if model is None:
        return
    config, seed = job["config"], job["seed"]
    folder = seed_folder(Path(job["out"]), seed)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f".{model}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if model == "meta":
            from recsim_meta.agents.meta_training import TRAINING_FILE, meta_train

            meta, run = dataclasses.replace(config.meta, seed=seed), meta_run(job)
            progress_file = run / "checkpoint" / TRAINING_FILE
            if (
                not progress_file.is_file()
                or json.loads(progress_file.read_text())["iterations_done"] < meta.iterations
            ):
                meta_train(meta, run, resume=(run / "config.yaml").exists(), progress=False, device="cpu")
        elif not (folder / "multitask_ppo").is_dir():
            from recsim_meta.agents.sb3.zoo import make_agent, read_hyperparameters, save_policy

            hyperparameters = read_hyperparameters(config.hyperparameters, "ppo", MULTI_DOMAIN_ID)
            envs = training_envs(config, None, 0, hyperparameters["n_envs"], seed)
            agent = make_agent("ppo", envs, hyperparameters, seed, Path(job["out"]) / "tensorboard")
            agent.learn(config.multitask_steps, tb_log_name=f"multitask_ppo_seed{seed}")
            save_policy(agent, folder / "multitask_ppo")


# --------------------------------------------------------------------------- one run: learn on the task, evaluate
Learner = Callable[[dict[str, Any], gym.Env], tuple[Any, int]]


def training_envs(config: BenchmarkConfig, task: Task | None, slate_size: int, users: int, seed: int):
    """The native SB3 ``VecEnv`` of ``users`` users of ``task`` in the meta config's layout (the training tasks
    when ``task`` is ``None``), seeded ``seed`` (``slate_size`` 0 keeps the domains' own)."""
    from recsim_meta.agents.sb3 import make_native_vec_env

    meta = config.meta
    layout = {"held_out_domain": meta.held_out_domain, "num_cohorts": meta.num_cohorts, "task_seed": meta.task_seed}
    if task is None:
        layout["num_variants"] = meta.num_variants
    else:
        layout |= {"task": task, "any_task": True}
    sizes = {"slate_size": slate_size} if slate_size else {}
    return make_native_vec_env(MULTI_DOMAIN_ID, users, seed=seed, **layout, **sizes)


def _sb3(method: str) -> Learner:
    algorithm, policy = SB3_METHODS[method]

    def learn(job: dict[str, Any], env: gym.Env) -> tuple[Any, int]:
        from recsim_meta.agents.sb3.zoo import load_policy, make_agent, read_hyperparameters

        config, task = job["config"], job["task_object"]
        hyperparameters = read_hyperparameters(config.hyperparameters, algorithm, PRESETS[task.domain].env_id)
        hyperparameters["policy"] = policy
        envs = training_envs(
            config, task, _overrides(job).get("slate_size", 0), hyperparameters["n_envs"], job["train_seed"]
        )
        agent = make_agent(algorithm, envs, hyperparameters, job["train_seed"], Path(job["out"]) / "tensorboard")
        if job["method"] == "multitask_ppo":  # fine-tuned with the task's domain settings (its rollout length)
            load_policy(agent, seed_folder(Path(job["out"]), job["seed"]) / "multitask_ppo")
        if job["budget"]:
            name = f"{job['method']}_{task.domain}{task.cohort}_seed{job['seed']}_budget{job['budget']}"
            agent.learn(job["budget"], tb_log_name=name)
        return agent, agent.num_timesteps

    return learn


def _bert(job: dict[str, Any], env: gym.Env) -> tuple[Any, int]:
    from recsim_meta.agents.meta_rl import MetaRLAgent
    from recsim_meta.agents.recommender_policy import read_model

    model = read_model(meta_run(job) / "pretrained")
    return _finetuned(MetaRLAgent(model, env, seed=job["train_seed"], device="cpu"), env, job)


def _meta_finetuned(job: dict[str, Any], env: gym.Env) -> tuple[Any, int]:
    return _finetuned(_meta_agent(job, env), env, job)


def _finetuned(agent, env: gym.Env, job: dict[str, Any]) -> tuple[Any, int]:
    """``agent`` fine-tuned (every parameter) on the budget's episodes of sampled slates."""
    rollout = _collect_steps(agent, env, job)
    if rollout is None:
        return agent, 0
    meta = job["config"].meta
    return agent.finetuned(rollout, meta.finetune_steps, meta.finetune_lr), len(rollout.reward)


def _meta_agent(job: dict[str, Any], env: gym.Env):
    """The meta-RL agent of ``job``'s seed, acting in ``env``, sampling with the job's training seed."""
    from recsim_meta.agents.meta_rl import MetaRLAgent

    return MetaRLAgent.load(meta_run(job) / "checkpoint", env, seed=job["train_seed"], device="cpu")


def _meta_rl(job: dict[str, Any], env: gym.Env) -> tuple[Any, int]:
    agent, config = _meta_agent(job, env), job["config"]
    if config.adaptation_steps is not None:
        agent = agent.with_adaptation(config.adaptation_steps, config.adaptation_lr_scale)
    rollout = _collect_steps(agent, env, job)
    agent.state = agent.adapt_states(rollout, [agent.state], config.adaptation_mode)[0]
    return agent, 0 if rollout is None else len(rollout.reward)


def _collect_steps(agent, env: gym.Env, job: dict[str, Any]):
    """Whole episodes of sampled slates until ``budget`` steps are reached (memory filling), or ``None``."""
    from recsim_meta.agents.rollouts import concat_rollouts

    episodes, steps = [], 0
    while steps < job["budget"]:
        seed = job["train_seed"] + len(episodes)
        episode = agent.collect([job["task_object"]], [agent.state], seeds=[seed], remember=True)
        episode.episode = episode.episode + len(episodes)
        episodes.append(episode)
        steps += len(episodes[-1].reward)
    return concat_rollouts(episodes) if episodes else None


def _greedy(job: dict[str, Any], env: gym.Env) -> tuple[Any, int]:
    model = GreedyOneStepModel(env, epsilon=job["config"].greedy_epsilon, seed=job["train_seed"])
    return model.learn(job["budget"]), job["budget"]


def _reference(name: str) -> Learner:
    def learn(job: dict[str, Any], env: gym.Env) -> tuple[Any, int]:
        return reference_policy(name, env, job["eval_seed"], job["task_object"], _overrides(job)), 0

    return learn


def _overrides(job: dict[str, Any]) -> dict[str, int]:
    """The ``DomainConfig`` fields ``job``'s method changes in the task's layout: DQN recommends one item."""
    return {"slate_size": 1} if SB3_METHODS.get(job["method"], ("",))[0] == "dqn" else {}


LEARNERS: dict[str, Learner] = {
    **{name: _reference(name) for name in REFERENCES},
    "greedy": _greedy,
    **{method: _sb3(method) for method in SB3_METHODS},
    "bert": _bert,
    "meta_rl": _meta_rl,
    "meta_finetuned": _meta_finetuned,
}

_ENVS: dict[tuple[str, int], gym.Env] = {}


def _task_env(config: BenchmarkConfig, task: Task, slate_size: int) -> gym.Env:
    """``config.meta.make_env()`` fixed to ``task`` (``slate_size`` 0 keeps the domains' own). The env is built
    once per process and reused: its worlds are immutable and every episode is set by its reset seed."""
    key = (config.meta.to_yaml(), slate_size)
    if key not in _ENVS:
        _ENVS[key] = config.meta.make_env(**({"slate_size": slate_size} if slate_size else {}))
    return FixedTask(_ENVS[key], task)


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """One run: the method learns on ``budget`` steps of the task, then plays the evaluation episodes
    (``seconds`` leaves out the training of a per-seed model it starts from)."""
    ensure_shared_model(job)
    start = time.perf_counter()
    torch.manual_seed(job["train_seed"])
    config, task = job["config"], job["task_object"]
    env = _task_env(config, task, _overrides(job).get("slate_size", 0))
    policy, steps = LEARNERS[job["method"]](job, env)
    metrics = SlateMetrics(env)
    stats = run_episodes(env, policy, config.eval_episodes, job["eval_seed"], on_step=metrics)
    value = float(stats.returns.mean())
    return {
        "steps": steps,
        "return": value,
        "score": normalized_score(task, value, _overrides(job)),
        "ctr": float(stats.clicks.sum() / stats.lengths.sum()),
        "session_length": float(stats.lengths.mean()),
        "diversity": metrics.diversity,
        "coverage": metrics.coverage,
        "seconds": time.perf_counter() - start,
    }


def benchmark_jobs(config: BenchmarkConfig, out: Path) -> list[dict[str, Any]]:
    """Every run with its seeds, ``scheduled``: evaluation seeds depend on the seed and task only (paired across
    methods), training seeds on everything."""
    jobs, tasks = [], config.tasks()
    for seed in config.seeds:
        for index, (regime, task) in enumerate(tasks):
            for m, method in enumerate(config.methods):
                for b, budget in enumerate(config.method_budgets.get(method, config.budgets)):
                    if method in REFERENCES and budget:
                        continue
                    jobs.append(
                        {
                            "method": method,
                            "regime": regime,
                            "task": task_name(task),
                            "seed": seed,
                            "budget": budget,
                            "task_object": task,
                            "config": config,
                            "out": str(out),
                            "eval_seed": 1_000_000 + 100_000 * seed + 1000 * index,
                            "train_seed": 2_000_000 + 100_000 * seed + 1000 * index + 10 * m + b,
                        }
                    )
    return scheduled(jobs)


def scheduled(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``jobs`` in the order workers take them: first one job per per-seed model to train (the long meta-RL
    trainings start at once), then the jobs that need no such model, then the rest, which by then rarely wait."""
    first, seen = [], set()
    for job in jobs:
        model = (job["seed"], SHARED_MODELS.get(job["method"]))
        if model[1] is not None and model not in seen:
            seen.add(model)
            first.append(job)
    firsts = {id(job) for job in first}
    independent = [job for job in jobs if job["method"] not in SHARED_MODELS]
    rest = [job for job in jobs if job["method"] in SHARED_MODELS and id(job) not in firsts]
    return first + independent + rest


def extends(old: BenchmarkConfig, new: BenchmarkConfig) -> bool:
    """Whether ``new`` is ``old`` or ``old`` with methods appended (so every finished run stays valid)."""
    methods = new.methods[: len(old.methods)]
    return methods == old.methods and dataclasses.replace(new, methods=methods) == old


def run_benchmark(
    config: BenchmarkConfig,
    out: str | os.PathLike,
    workers: int = 1,
    progress: bool = True,
    backend: str = "processes",
    threads: int | None = None,
) -> Path:
    """Train the per-seed models, run every job not yet in ``out/results.csv`` and write the report;
    returns the path of ``results.csv``. ``workers``, ``backend`` and ``threads`` (per worker) as in
    ``parallel.parallel_map``.
    A benchmark folder holds one config: another one is refused, except one that appends methods to its
    list (training seeds depend on a method's place in it), whose runs are added to the finished ones."""

    out = Path(out)
    config_file = out / "config.yaml"
    if config_file.exists() and not extends(BenchmarkConfig.from_yaml(config_file), config):
        raise ValueError(
            f"{out} holds a benchmark of another config ({config_file}); choose another --out "
            "(a config may only append methods to the folder's)"
        )
    out.mkdir(parents=True, exist_ok=True)
    config_file.write_text(config_yaml(config))
    results = ResultsFile(out / "results.csv", COLUMNS, KEY)
    run_all(benchmark_jobs(config, out), run_job, results, workers, progress, "benchmark runs", backend, threads)
    write_report(results.path, out)
    return results.path
