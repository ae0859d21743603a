"""The benchmark harness: its pieces (fixed-task wrapper, slate metrics, greedy model, SB3 glue, report) and a
small end-to-end run; the full tiny grid with the meta-RL agent runs under ``-m expensive``."""

import csv
import math
import tempfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from tiny_configs import TINY

import recsim_meta
from recsim_meta.agents.baselines import RandomPolicy
from recsim_meta.agents.greedy import GreedyOneStepModel
from recsim_meta.agents.meta_training import MetaConfig
from recsim_meta.agents.sb3.zoo import load_policy, make_agent, read_hyperparameters, save_policy
from recsim_meta.cli import main
from recsim_meta.envs.wrappers import FixedTask
from recsim_meta.evaluation.benchmark import COLUMNS, METHODS, BenchmarkConfig, run_benchmark, task_name
from recsim_meta.evaluation.metrics import SlateMetrics
from recsim_meta.evaluation.references import normalized_score
from recsim_meta.evaluation.report import (
    markdown_report,
    oracle_match_table,
    read_results,
    score_matrix,
    steps_to_match_table,
)
from recsim_meta.evaluation.rollout import run_episodes
from recsim_meta.sim.tasks import Task, sample_tasks

HYPERPARAMETERS = "experiments/hyperparams"
TINY_META = {**TINY, "iterations": 2, "ppo_epochs": 1}


def write_configs(folder: Path, **changes) -> Path:
    (folder / "meta.yaml").write_text(MetaConfig(**TINY_META).to_yaml())
    values = {
        "meta_config": str(folder / "meta.yaml"),
        "hyperparameters": HYPERPARAMETERS,
        "seeds": [0, 1],
        "budgets": [0, 64],
        "cohorts_per_domain": 1,
        "test_domain_tasks": 1,
        "eval_episodes": 1,
        "multitask_steps": 256,
        **changes,
    }
    (folder / "benchmark.yaml").write_text(yaml.safe_dump(values))
    return folder / "benchmark.yaml"


@pytest.fixture(scope="module")
def task_env():
    task = sample_tasks("ecommerce", 1, seed=3)[0]
    return task, FixedTask(gym.make("recsim_meta/Ecommerce-v0"), task)


# --------------------------------------------------------------------------- pieces
def test_fixed_task_runs_its_task_every_episode_and_refuses_another(task_env):
    task, env = task_env
    for seed in (0, None, 5):
        assert env.reset(seed=seed)[1]["task"] == task
    with pytest.raises(ValueError, match="fixed to the task"):
        env.reset(options={"task": Task("ecommerce", cohort=99)})
    with pytest.raises(ValueError, match="does not match"):
        FixedTask(gym.make("recsim_meta/News-v0"), task)


def test_slate_metrics_measure_diversity_and_coverage(task_env):
    _, env = task_env
    metrics = SlateMetrics(env)
    stats = run_episodes(env, RandomPolicy(env, 0), 3, seed=0, on_step=metrics)
    assert 0.0 < metrics.diversity <= 2.0
    assert len(metrics.diversities) == stats.lengths.sum()
    catalogue = env.unwrapped.catalog.num_items
    assert 3 / catalogue <= metrics.coverage <= min(1.0, 3 * stats.lengths.sum() / catalogue)
    single = SlateMetrics(env)
    observation, _ = env.reset(seed=0)
    single(observation, np.array([4, 4, 4]))  # one item in three slots: nothing to be diverse about
    assert math.isnan(single.diversity) and single.coverage == 1 / catalogue


@settings(max_examples=25, deadline=None)
@given(positions=st.lists(st.integers(0, 19), min_size=2, max_size=5, unique=True))
def test_diversity_of_a_slate_is_a_mean_cosine_distance(task_env, positions):
    _, env = task_env
    observation, _ = env.reset(seed=1)
    metrics = SlateMetrics(env)
    metrics(observation, np.array(positions))
    vectors = env.unwrapped.catalog.vectors[observation["candidate_ids"][positions]]
    vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    pairs = [1 - vectors[i] @ vectors[j] for i in range(len(positions)) for j in range(i + 1, len(positions))]
    assert metrics.diversity == pytest.approx(np.mean(pairs))


def test_the_greedy_model_learns_to_beat_random(task_env):
    _, env = task_env
    model = GreedyOneStepModel(env, seed=0).learn(1500)
    learned = run_episodes(env, model, 20, seed=100).returns.mean()
    random = run_episodes(env, RandomPolicy(env, 0), 20, seed=100).returns.mean()
    assert learned > 1.2 * random
    with pytest.raises(ValueError, match="epsilon"):
        GreedyOneStepModel(env, epsilon=1.5)


def test_hyperparameter_files_cover_every_env_id_and_bad_ones_are_named(tmp_path):
    for algorithm in ("ppo", "a2c", "dqn"):
        for env_id in recsim_meta.ENV_IDS:
            assert read_hyperparameters(HYPERPARAMETERS, algorithm, env_id)["policy"] == "MultiInputPolicy"
    with pytest.raises(ValueError, match="accepted: ppo, a2c, dqn"):
        read_hyperparameters(HYPERPARAMETERS, "sac", "recsim_meta/News-v0")
    with pytest.raises(ValueError, match="no entry for 'recsim_meta/Nope-v0'"):
        read_hyperparameters(HYPERPARAMETERS, "ppo", "recsim_meta/Nope-v0")
    (tmp_path / "ppo.yml").write_text("recsim_meta/News-v0: {policy: MultiInputPolicy, n_stepz: 3}\n")
    arguments = read_hyperparameters(tmp_path, "ppo", "recsim_meta/News-v0")
    with pytest.raises(ValueError, match="n_stepz"):
        make_agent("ppo", gym.make("recsim_meta/News-v0"), arguments, seed=0)


def test_sb3_weights_round_trip_in_safetensors_and_bad_files_are_refused(task_env, tmp_path, monkeypatch):
    _, env = task_env
    arguments = read_hyperparameters(HYPERPARAMETERS, "a2c", "recsim_meta/Ecommerce-v0")
    agent = make_agent("a2c", env, arguments, seed=0)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    agent.learn(64)
    assert not list(tmp_path.glob("SB3-*"))  # no log folder left in the temp directory
    save_policy(agent, tmp_path / "a2c")
    loaded = load_policy(make_agent("a2c", env, arguments, seed=1), tmp_path / "a2c")
    observation, _ = env.reset(seed=3)
    assert np.array_equal(
        agent.predict(observation, deterministic=True)[0], loaded.predict(observation, deterministic=True)[0]
    )
    (tmp_path / "a2c" / "policy.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        load_policy(agent, tmp_path / "a2c")
    save_policy(
        make_agent(
            "dqn",
            FixedTask(gym.make("recsim_meta/Ecommerce-v0", slate_size=1), env.task),
            read_hyperparameters(HYPERPARAMETERS, "dqn", "recsim_meta/Ecommerce-v0"),
            0,
        ),
        tmp_path / "dqn",
    )
    with pytest.raises(ValueError, match="another policy"):
        load_policy(agent, tmp_path / "dqn")


def test_bad_benchmark_configs_are_named(tmp_path):
    path = write_configs(tmp_path)
    assert BenchmarkConfig.from_yaml(path).methods == METHODS
    for changes, message in [
        ({"methods": ["ppo", "sac"]}, "unknown method"),
        ({"budgets": [100]}, "including 0"),
        ({"adaptation_mode": "magic"}, "adaptation_mode"),
        ({"adaptation_steps": -1}, "adaptation_steps"),
        ({"adaptation_lr_scale": 0}, "adaptation_lr_scale"),
        ({"eval_episodes": 0}, "eval_episodes"),
        ({"meta_config": str(tmp_path / "missing.yaml")}, "cannot read the config"),
    ]:
        with pytest.raises(ValueError, match=message):
            BenchmarkConfig.from_yaml(write_configs(tmp_path, **changes))
    with pytest.raises(ValueError, match="unknown key"):
        BenchmarkConfig.from_yaml(path, budget=[0])
    with pytest.raises(SystemExit):
        main(["benchmark", "--config", str(path), "--out", str(tmp_path / "out"), "--workers", "0"])


def test_the_quick_config_reads_and_has_both_regimes():
    config = BenchmarkConfig.from_yaml("experiments/benchmark_quick.yaml")
    regimes = [regime for regime, _ in config.tasks()]
    assert regimes.count("held_out_cohorts") == 5 and regimes.count("held_out_domain") == 2


# --------------------------------------------------------------------------- end to end
def test_a_small_benchmark_writes_results_report_and_plots_and_a_rerun_skips_it(tmp_path):
    methods = ["random", "oracle", "planning", "greedy", "a2c"]
    config = BenchmarkConfig.from_yaml(write_configs(tmp_path, methods=methods))
    out = tmp_path / "out"
    results = run_benchmark(config, out, progress=False)
    rows = read_results(results)
    # 2 seeds x 6 tasks (a held-out cohort of each seen domain, a video cohort) x (random, oracle, planning at
    # budget 0 + greedy, a2c at budgets 0 and 64)
    assert len(rows) == 2 * 6 * (3 + 2 * 2)
    assert list(rows[0]) == list(COLUMNS)
    tasks = {task_name(task): task for _, task in config.tasks()}
    for row in rows:  # scored against the task's shipped references: random 0, planning 1
        assert row["score"] == pytest.approx(normalized_score(tasks[row["task"]], row["return"]))
        if row["method"] in ("greedy", "a2c"):
            assert row["steps"] >= row["budget"]
    mean_score = {m: np.mean([r["score"] for r in rows if r["method"] == m]) for m in ("random", "planning")}
    assert mean_score["random"] < 0.5 < mean_score["planning"]
    assert score_matrix(rows, "greedy", "held_out_cohorts", 64).shape == (2, 5)
    report = (out / "report.md").read_text()
    assert "held out cohorts: IQM score" in report and "probability of improvement" not in report.split("\n")[0]
    assert (out / "sample_efficiency.png").stat().st_size > 0 and (out / "domains.png").stat().st_size > 0
    assert any((out / "tensorboard").iterdir())
    before = (out / "results.csv").read_text()
    run_benchmark(config, out, progress=False)
    assert (out / "results.csv").read_text() == before
    other = BenchmarkConfig.from_yaml(write_configs(tmp_path, methods=["random"]))
    with pytest.raises(ValueError, match="another config"):
        run_benchmark(other, out, progress=False)
    # appending a method keeps every finished run (training seeds depend on a method's place in the list)
    extended = BenchmarkConfig.from_yaml(write_configs(tmp_path, methods=[*methods, "popularity"]))
    run_benchmark(extended, out, progress=False)
    after = (out / "results.csv").read_text()
    assert after.startswith(before) and len(read_results(out / "results.csv")) == len(rows) + 2 * 6


def test_the_report_says_n_a_for_a_missing_run():
    rows = [
        {"method": m, "regime": "held_out_cohorts", "task": t, "seed": s, "budget": 0, "score": float(s)}
        for m in ("meta_rl", "greedy")
        for t in ("news/1", "game/1")
        for s in (0, 1)
    ]
    assert score_matrix(rows, "greedy", "held_out_cohorts", 0).shape == (2, 2)
    assert score_matrix(rows[:-1], "greedy", "held_out_cohorts", 0) is None
    for row in rows:
        row.update(steps=0, **{n: 1.0 for n in ("return", "ctr", "session_length", "diversity", "coverage")})
    assert "| n/a" in markdown_report(rows[:-1]) and "| n/a" not in markdown_report(rows)


def test_the_report_says_how_many_steps_sb3_needs_and_where_it_reaches_the_myopic_oracle():
    def row(method, task, seed, budget, score):
        return {"method": method, "regime": "held_out_cohorts", "task": task, "seed": seed, "budget": budget} | {
            "score": score
        }

    tasks, seeds = ("news/1", "game/1"), (0, 1)
    rows = [row("oracle", t, s, 0, 0.6) for t in tasks for s in seeds]
    rows += [row("meta_rl", t, s, b, 0.3) for t in tasks for s in seeds for b in (0, 150)]
    learned = {0: 0.0, 10_000: 0.0, 100_000: 0.45}
    rows += [
        row("ppo_slate", t, s, b, v + 0.2 * (t == "news/1")) for t in tasks for s in seeds for b, v in learned.items()
    ]
    matching = steps_to_match_table(rows, "held_out_cohorts")
    assert "0.30 (after 150 steps)" in matching and "| ppo_slate | 100,000 |" in matching
    reaching = oracle_match_table(rows, "held_out_cohorts").splitlines()
    assert reaching[0] == "| task | oracle | ppo_slate after 100,000 steps |"
    assert reaching[2:] == ["| news/1 | 0.60 | 0.65 (reached) |", "| game/1 | 0.60 | 0.45 |"]


@pytest.mark.expensive
def test_the_tiny_benchmark_runs_every_method_end_to_end_through_the_cli(tmp_path):
    path = write_configs(tmp_path, adaptation_steps=4, adaptation_lr_scale=2.0)
    out = tmp_path / "out"
    main(["benchmark", "--config", str(path), "--out", str(out), "--workers", "2"])
    with open(out / "results.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert {r["method"] for r in rows} == set(METHODS)
    assert len(rows) == 2 * 6 * (4 + 8 * 2)
    report = (out / "report.md").read_text()
    assert "P(meta_rl > method)" in report and "P(meta_finetuned > method)" in report
    assert "| n/a" not in report.split("metrics after")[0]
    main(["benchmark", "--config", str(path), "--out", str(out), "--report-only"])


@pytest.mark.expensive
def test_rl_zoo3_trains_a_registered_env_from_the_hyperparameter_file(tmp_path):
    pytest.importorskip("rl_zoo3", reason="rl_zoo3 is not a dependency: pip install rl_zoo3")
    import subprocess
    import sys

    command = [sys.executable, "-m", "rl_zoo3.train", "--algo", "ppo", "--env", "recsim_meta/News-v0"]
    command += ["--gym-packages", "recsim_meta", "--conf-file", f"{HYPERPARAMETERS}/ppo.yml", "-n", "512"]
    subprocess.run([*command, "--log-folder", str(tmp_path), "--seed", "0"], check=True, capture_output=True)
    assert list(tmp_path.glob("ppo/recsim_meta-News-v0_1/*.zip"))
