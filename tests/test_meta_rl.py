"""The meta-RL agent: slate probabilities, memory, adaptation, meta-training, checkpoints, resume, meta-test, CLI."""

from __future__ import annotations

import argparse
import copy
import dataclasses
import importlib.util
import itertools
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from tiny_configs import TINY

from recsim_meta import normalized_score
from recsim_meta.agents import meta_gradients
from recsim_meta.agents.bert_recommender import PAD
from recsim_meta.agents.losses import memoryless_slate_loss, slate_log_prob
from recsim_meta.agents.meta_rl import (
    ADAPTED,
    HYPERPARAMETERS,
    INNER_STEPS,
    AdaptationSettings,
    MetaRLAgent,
    TaskMemory,
)
from recsim_meta.agents.meta_training import MetaConfig, meta_train
from recsim_meta.agents.pretraining import rms_reward
from recsim_meta.agents.recommender_policy import RecommenderPolicy, read_model
from recsim_meta.cli import main as cli
from recsim_meta.config_files import add_overrides_argument, parse_overrides
from recsim_meta.evaluation.adaptation import (
    COLUMNS,
    FINETUNED,
    META_FINETUNED,
    adaptation_gains,
    choose_adaptation,
    curve_table,
    difference_table,
    meta_test,
    paired_differences,
    read_rows,
    seed_difference_table,
)
from recsim_meta.sim.tasks import sample_tasks


def write_config(path: Path, **changes) -> Path:
    path.write_text(MetaConfig(**{**TINY, **changes}).to_yaml())
    return path


def experiment_script(name: str):
    """The module ``experiments/<name>.py``, loaded from its file (experiments/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, f"experiments/{name}.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("meta") / "run"
    meta_train(MetaConfig(**TINY), out, progress=False)
    return out


def weights(path: Path) -> dict[str, torch.Tensor]:
    return read_model(path).state_dict()


@settings(max_examples=20, deadline=None)
@given(m=st.integers(2, 5), k=st.integers(1, 3), seed=st.integers(0, 1000))
def test_slate_log_prob_is_a_distribution_over_ordered_slates(m, k, seed):
    k = min(k, m)
    logits = torch.randn(1, m, generator=torch.Generator().manual_seed(seed))
    slates = torch.tensor(list(itertools.permutations(range(m), k)))
    log_probs = slate_log_prob(logits.expand(len(slates), m), slates)
    assert torch.isclose(log_probs.exp().sum(), torch.tensor(1.0), atol=1e-5)
    first = slate_log_prob(logits, slates[:1, :1])  # one draw: the softmax
    assert torch.isclose(first, logits.log_softmax(1)[0, slates[0, 0]])


def test_task_memory_keeps_the_newest_interactions_and_skips_padding():
    memory = TaskMemory(4)
    memory.add_episode(np.array([PAD, 7, 8]), np.ones((3, 3), dtype=np.float32))
    memory.add_episode(np.array([9, 10, 11]), 2 * np.ones((3, 3), dtype=np.float32))
    assert memory.tokens.tolist() == [8, 9, 10, 11]
    assert memory.responses[:, 0].tolist() == [1, 2, 2, 2]
    empty = TaskMemory(0)
    empty.add_episode(np.array([5]), np.ones((1, 3), dtype=np.float32))
    assert empty.tokens.size == 0


def test_click_memory_keeps_the_most_clicked_items_of_all_episodes_with_their_mean_responses():
    def responses(clicks, rewards):
        return np.array([[c, r, 0.5] for c, r in zip(clicks, rewards, strict=True)], dtype=np.float32)

    memory = TaskMemory(3, kind="clicks")
    memory.add_episode(np.array([7, 8, 9, PAD]), responses([1, 0, 1, 1], [2.0, 5.0, 1.0, 9.0]))
    assert memory.tokens.tolist() == [PAD, 7, 9]  # 8 was shown and skipped; ties: the latest click last
    memory.add_episode(np.array([9, 10, 11, 12]), responses([1, 1, 1, 1], [3.0, 1.0, 1.0, 1.0]))
    assert memory.tokens.tolist() == [11, 12, 9]  # 9 twice: last; then the most recent single clicks
    assert memory.responses[-1].tolist() == [1.0, 2.0, 0.5]  # 9's mean response
    with pytest.raises(ValueError, match="accepted: recent, clicks"):
        TaskMemory(3, kind="last")


def test_meta_step_trains_the_model_and_the_learning_rates(run):
    config = MetaConfig(**TINY)
    env = config.make_env()
    for second_order in (False, True):
        agent = MetaRLAgent(read_model(run / "pretrained"), env, config.settings.__class__(second_order=second_order))
        before = {k: v.clone() for k, v in agent.meta.state_dict().items()}
        model_before = {k: v.clone() for k, v in agent.model.state_dict().items()}
        optimizer = torch.optim.Adam(agent.parameters(), lr=1e-2)
        record = agent.meta_step(list(env.unwrapped.tasks[:2]), 1, 2, [0, 100], optimizer, epochs=1)
        assert np.isfinite(list(record.values())).all()
        assert any(not torch.equal(v, before[k]) for k, v in agent.meta.state_dict().items() if "log_lr" in k)
        assert not torch.equal(
            agent.model.state_dict()["bert.encoder.layer.0.output.dense.weight"],
            model_before["bert.encoder.layer.0.output.dense.weight"],
        )


@pytest.mark.parametrize("inner_step", INNER_STEPS)
def test_a_meta_sgd_step_moves_the_heads_by_the_learning_rate_when_normalised_and_by_norm_one_when_clipped(
    run, inner_step
):
    env = MetaConfig(**TINY).make_env()
    lr = 0.01
    settings = AdaptationSettings(inner_steps=1, inner_lr=lr, inner_step=inner_step)
    agent = MetaRLAgent(read_model(run / "pretrained"), env, settings)
    rollout = agent.collect([env.unwrapped.tasks[0]], seeds=[1])
    params = agent.adapted_params(rollout, agent.model.encode(rollout.batch), scale=1.0)
    base = dict(agent.model.named_parameters())
    steps = [(params[name] - base[name]).detach() / lr for name in params]
    if inner_step == "normalised":  # every tensor: root mean square step = its learning rate
        for step in steps:
            assert step.pow(2).mean().sqrt().item() == pytest.approx(1.0, rel=1e-3)
    else:  # the whole step: norm at most 1
        assert torch.sqrt(sum(step.pow(2).sum() for step in steps)).item() <= 1.0 + 1e-4
    with pytest.raises(ValueError, match="unknown inner_step 'adam'; accepted: clipped, normalised"):
        AdaptationSettings(inner_step="adam")


def test_hyperparameter_meta_gradient_is_the_derivative_of_the_validation_objective_after_a_step(run):
    """``d J(theta - lr g(eta)) / d eta`` from the sensitivities matches central finite differences for every
    meta-learned hyperparameter, the discount (through GAE) included."""
    config = MetaConfig(**TINY)
    env = config.make_env()
    settings = AdaptationSettings(meta_hyperparameters=True, inner_steps=1)
    base = MetaRLAgent(read_model(run / "pretrained"), env, settings)
    tasks = list(env.unwrapped.tasks[:2])
    support, query, validation = (base.collect(tasks, seeds=[seed, 100 + seed]) for seed in range(3))
    lr, eps = 0.05, 0.05  # eps: J is float32, so a smaller step drowns the difference in rounding

    def after_step(name: str | None = None, shift: float = 0.0):
        """J on the validation episodes after a plain gradient step, with ``meta.hyper[name]`` shifted."""
        agent = MetaRLAgent(copy.deepcopy(base.model), env, settings)
        agent.meta.load_state_dict(base.meta.state_dict())
        if name is not None:
            with torch.no_grad():
                agent.meta.hyper[name] += shift
        agent.model.eval()
        hyper = agent.hyperparameters(differentiable=True)
        total = agent.total_loss(agent.meta_losses(support, query, 2, hyper["gamma"]), hyper)
        parameters = agent.parameters()
        sensitivities = meta_gradients.sensitivities(total, list(agent.meta.hyper.values()), parameters)
        gradients = torch.autograd.grad(total, parameters, allow_unused=True)
        with torch.no_grad():
            for parameter, gradient in zip(parameters, gradients, strict=True):
                if gradient is not None:
                    parameter -= lr * gradient
        return agent.validation_objective(validation, 2), sensitivities, parameters

    objective, sensitivities, parameters = after_step()
    analytic = meta_gradients.hyperparameter_gradients(sensitivities, objective, parameters, [lr] * len(parameters))
    assert sorted(base.meta.hyper) == sorted(HYPERPARAMETERS)
    for name, gradient in zip(base.meta.hyper, analytic, strict=True):
        numeric = (after_step(name, eps)[0].item() - after_step(name, -eps)[0].item()) / (2 * eps)
        assert numeric == pytest.approx(gradient.item(), rel=0.05, abs=1e-4), name


def test_meta_hyperparameters_are_learned_saved_and_resumed(tmp_path, monkeypatch):
    config = MetaConfig(**{**TINY, "iterations": 2, "adaptation": {"meta_hyperparameters": True}})
    agent = meta_train(config, tmp_path / "run", progress=False)
    initial = AdaptationSettings()
    learned = agent.hyperparameters()
    assert all(learned[name] != getattr(initial, name) for name in HYPERPARAMETERS)
    assert all(abs(math.log(learned[name] / getattr(initial, name))) < 0.05 for name in HYPERPARAMETERS[:3])
    loaded = MetaRLAgent.load(tmp_path / "run" / "checkpoint", config.make_env())
    assert loaded.hyperparameters() == learned

    real_step = MetaRLAgent.meta_step
    calls = {"n": 0}

    def interrupted_step(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(MetaRLAgent, "meta_step", interrupted_step)
    with pytest.raises(KeyboardInterrupt):
        meta_train(config, tmp_path / "interrupted", progress=False)
    monkeypatch.setattr(MetaRLAgent, "meta_step", real_step)
    resumed = meta_train(config, tmp_path / "interrupted", resume=True, progress=False)
    assert resumed.hyperparameters() == pytest.approx(learned, rel=1e-6)
    optimizer = torch.optim.Adam(agent.parameters())
    with pytest.raises(ValueError, match="validation tasks are needed"):
        agent.meta_step([config.make_env().unwrapped.tasks[0]], 1, 1, [0], optimizer, 1)
    with pytest.raises(ValueError, match="entropy_coef must be > 0 with meta_hyperparameters"):
        AdaptationSettings(meta_hyperparameters=True, entropy_coef=0.0)
    with pytest.raises(ValueError, match="gamma must be in \\(0, 1\\)"):
        AdaptationSettings(meta_hyperparameters=True, gamma=1.0)
    with pytest.raises(ValueError, match="validation_tasks must be >= 1"):
        MetaConfig(validation_tasks=0)


def test_adapt_fills_the_memory_and_adapts_the_heads(run):
    config = MetaConfig(**TINY)
    env = config.make_env()
    agent = MetaRLAgent.load(run / "checkpoint", env)
    task = env.unwrapped.splits.test_cohorts[0]
    observation, _ = env.reset(seed=5, options={"task": task})
    base_action, _ = agent.predict(observation)
    assert env.action_space.contains(base_action)
    agent.adapt(2, task, mode="in_context", seed=1)
    assert (agent.state.memory.tokens != PAD).any() and agent.state.params is None
    agent.adapt(2, task, mode="gradient", seed=1)
    assert (agent.state.memory.tokens == PAD).all() and agent.state.params is not None
    changed = [
        not torch.equal(agent.state.params[k], v) for k, v in agent.model.named_parameters() if k in agent.state.params
    ]
    assert any(changed)
    assert env.action_space.contains(agent.predict(observation)[0])
    with pytest.raises(ValueError, match="in_context, gradient, both"):
        agent.adapt(1, task, mode="everything")
    agent.reset_task()
    assert agent.predict(observation)[0].tolist() == base_action.tolist()


def test_with_adaptation_scales_the_test_time_steps_and_rates_and_leaves_the_agent(run):
    agent = MetaRLAgent.load(run / "checkpoint", MetaConfig(**TINY).make_env())
    rates = {k: v.clone() for k, v in agent.meta.learning_rates().items()}
    stronger = agent.with_adaptation(inner_steps=7, lr_scale=3.0)
    assert stronger.model is agent.model and stronger.settings.inner_steps == 7
    for name, rate in stronger.meta.learning_rates().items():
        assert torch.allclose(rate, 3.0 * rates[name]) and torch.equal(agent.meta.learning_rates()[name], rates[name])
    assert agent.settings.inner_steps == TINY.get("adaptation", {}).get("inner_steps", 3)
    with pytest.raises(ValueError, match="lr_scale"):
        agent.with_adaptation(3, 0.0)


def test_finetuned_trains_a_copy_of_every_parameter_and_leaves_the_agent(run):
    config = MetaConfig(**TINY)
    env = config.make_env()
    agent = MetaRLAgent.load(run / "checkpoint", env)
    before = {k: v.clone() for k, v in agent.model.state_dict().items()}
    rollout = agent.collect([env.unwrapped.splits.test_domain[0]], seeds=[3])
    tuned = agent.finetuned(rollout, steps=3, learning_rate=1e-2)
    assert tuned.model is not agent.model
    assert all(torch.equal(v, before[k]) for k, v in agent.model.state_dict().items())
    after = tuned.model.state_dict()
    for name in ("bert.encoder.layer.0.output.dense.weight", "candidate_head.0.weight", "item_embeddings.weight"):
        assert not torch.equal(after[name], before[name]), name
    meta = agent.meta.state_dict()  # the learned rates and temperature come along (a fresh agent would reset them)
    assert all(torch.equal(v, meta[k]) for k, v in tuned.meta.state_dict().items())
    assert not torch.equal(meta["log_temperature"], MetaRLAgent(agent.model, env).meta.log_temperature.detach())
    observation, _ = env.reset(seed=5)
    assert env.action_space.contains(tuned.predict(observation)[0])
    heads_only = agent.finetuned(rollout, steps=3, learning_rate=1e-2, parts=ADAPTED).model.state_dict()
    changed = {k for k, v in heads_only.items() if not torch.equal(v, before[k])}
    assert changed and all(k.startswith(ADAPTED) for k in changed)
    with pytest.raises(ValueError, match="no parameter of the model starts with any of"):
        agent.finetuned(rollout, steps=1, learning_rate=1e-2, parts=("decoder",))


def test_finetuning_meta_step_is_the_query_gradient_at_the_fine_tuned_copy(run):
    """First-order MAML through fine-tuning: with 0 fine-tuning steps the update is the (clipped) gradient of
    the query episodes' slate losses at the model itself; with some steps it is taken elsewhere."""
    config = MetaConfig(**TINY)
    env = config.make_env()
    tasks = list(env.unwrapped.tasks[:2])

    def step(steps: int):
        agent = MetaRLAgent.load(run / "checkpoint", env, seed=0)
        before = [p.detach().clone() for p in agent.model.parameters()]
        optimizer = torch.optim.SGD(agent.model.parameters(), lr=1.0)
        record = agent.finetuning_meta_step(tasks, 1, 1, [0, 100], optimizer, steps, 1e-2)
        return [b - p.detach() for b, p in zip(before, agent.model.parameters(), strict=True)], record

    update, record = step(0)
    assert record["finetuning/query_loss_before"] == pytest.approx(record["finetuning/query_loss_after"])
    base = MetaRLAgent.load(run / "checkpoint", env, seed=0)  # the same sampling state: the same episodes
    rollout = base.collect(tasks, users=2, seeds=[0, 100], remember=False)
    loss = 0.0
    for slot in range(len(tasks)):
        mine = rollout.select(np.flatnonzero(rollout.slot == slot))
        support, query = (mine.select(np.flatnonzero(mine.user == u)) for u in (0, 1))
        loss = loss + memoryless_slate_loss(query, rms_reward(support.reward))(base.model) / len(tasks)
    loss.backward()
    gradients = [torch.zeros_like(p) if p.grad is None else p.grad for p in base.model.parameters()]
    clip = min(1.0, 1.0 / (torch.cat([g.flatten() for g in gradients]).norm().item() + 1e-6))
    for change, gradient in zip(update, gradients, strict=True):
        torch.testing.assert_close(change, clip * gradient, atol=1e-6, rtol=1e-4)
    tuned_update, tuned_record = step(3)
    assert tuned_record["finetuning/query_loss_after"] != pytest.approx(tuned_record["finetuning/query_loss_before"])
    assert any(not torch.allclose(a, b, atol=1e-6) for a, b in zip(update, tuned_update, strict=True))


def test_meta_train_runs_the_finetuning_iterations_after_the_ppo_ones(tmp_path, monkeypatch):
    support_episodes = []
    real_step = MetaRLAgent.finetuning_meta_step

    def recorded_step(self, tasks, support, *args):
        support_episodes.append(support)
        return real_step(self, tasks, support, *args)

    monkeypatch.setattr(MetaRLAgent, "finetuning_meta_step", recorded_step)
    config = MetaConfig(**{**TINY, "finetune_iterations": 2, "finetune_support_episodes": 2})
    meta_train(config, tmp_path / "run", progress=False)
    assert support_episodes == [2, 2]
    assert json.loads((tmp_path / "run" / "checkpoint" / "training.json").read_text()) == {"iterations_done": 5}


def test_save_load_round_trip_gives_identical_actions(run, tmp_path):
    config = MetaConfig(**TINY)
    env = config.make_env()
    agent = MetaRLAgent.load(run / "checkpoint", env)
    agent.save(tmp_path / "agent")
    loaded = MetaRLAgent.load(tmp_path / "agent", env)
    for seed in range(3):
        observation, _ = env.reset(seed=seed)
        assert agent.predict(observation)[0].tolist() == loaded.predict(observation)[0].tolist()
    (tmp_path / "agent" / "meta.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ValueError, match="meta.safetensors"):
        MetaRLAgent.load(tmp_path / "agent", env)
    RecommenderPolicy(read_model(run / "pretrained"), env).save(tmp_path / "policy")
    with pytest.raises(ValueError, match="not a saved MetaRLAgent"):
        MetaRLAgent.load(tmp_path / "policy", env)


def test_meta_config_names_bad_keys_and_values(tmp_path):
    (tmp_path / "bad.yaml").write_text("iterations: 3\nbatch: 4\n")
    with pytest.raises(ValueError, match="unknown key.*batch.*accepted:.*iterations"):
        MetaConfig.from_yaml(tmp_path / "bad.yaml")
    with pytest.raises(ValueError, match="unknown adaptation key.*lr.*accepted:.*inner_lr"):
        MetaConfig(adaptation={"lr": 0.1})
    with pytest.raises(ValueError, match="iterations must be >= 1"):
        MetaConfig(iterations=0)
    with pytest.raises(ValueError, match="gamma must be in"):
        MetaConfig(adaptation={"gamma": 2.0})
    with pytest.raises(ValueError, match="num_variants must be >= 0"):
        MetaConfig(num_variants=-1)
    with pytest.raises(ValueError, match="need 0 <= num_validation \\+ num_test < num_cohorts"):
        MetaConfig(num_cohorts=4)
    with pytest.raises(ValueError, match="finetune_iterations must be (an integer|>= 0)"):
        MetaConfig(finetune_iterations=1.5)
    with pytest.raises(ValueError, match="adaptation_draws must be >= 1"):
        MetaConfig(adaptation_draws=0)
    with pytest.raises(ValueError, match=r"adaptation_draws x max\(adaptation_episodes\) must be <= 1000.*200 x 10"):
        MetaConfig(adaptation_draws=200)
    assert MetaConfig.from_yaml("experiments/meta_quick.yaml").iterations > 0


def test_command_line_overrides_read_yaml_values_and_name_a_bad_item():
    items = ["num_variants=0", "adaptation_episodes=[0, 5]", "held_out_domain=null", "finetune_lr=1e-3"]
    overrides = parse_overrides(items)
    assert overrides == {"num_variants": 0, "adaptation_episodes": [0, 5], "held_out_domain": None, "finetune_lr": 1e-3}
    assert MetaConfig(**overrides).adaptation_episodes == (0, 5)
    for bad in ("num_variants", "=6"):
        with pytest.raises(ValueError, match=f"--set takes KEY=VALUE, got '{bad}'"):
            parse_overrides([bad])


def test_a_dotted_override_sets_one_key_of_the_adaptation_settings():
    config = MetaConfig.from_yaml("experiments/meta_quick.yaml", **parse_overrides(["adaptation.memory=clicks"]))
    assert config.settings.memory == "clicks"
    assert config.settings.inner_steps == MetaConfig.from_yaml("experiments/meta_quick.yaml").settings.inner_steps
    with pytest.raises(ValueError, match="unknown memory 'last'; accepted: recent, clicks"):
        MetaConfig.from_yaml("experiments/meta_quick.yaml", **{"adaptation.memory": "last"})
    with pytest.raises(ValueError, match=r"cannot set 'iterations.count': 'iterations' is \d+, not a mapping"):
        MetaConfig.from_yaml("experiments/meta_quick.yaml", **{"iterations.count": 3})


def test_the_set_option_gives_the_overrides_and_a_usage_error_naming_a_bad_item(capsys):
    parser = argparse.ArgumentParser()
    add_overrides_argument(parser)
    assert parser.parse_args([]).set == {}
    assert parser.parse_args(["--set", "num_variants=0", "finetune_lr=1e-3"]).set == {
        "num_variants": 0,
        "finetune_lr": 1e-3,
    }
    with pytest.raises(SystemExit):
        parser.parse_args(["--set", "num_variants"])
    assert "--set takes KEY=VALUE, got 'num_variants'" in capsys.readouterr().err


def test_a_finished_run_is_not_overwritten_without_resume(run):
    before = (run / "checkpoint" / "training.json").read_text()
    with pytest.raises(ValueError, match="already holds a run"):
        meta_train(MetaConfig(**TINY), run, progress=False)
    with pytest.raises(ValueError, match="differs from the given config in iterations"):
        meta_train(MetaConfig(**{**TINY, "iterations": 5}), run, resume=True, progress=False)
    meta_train(MetaConfig(**{**TINY, "eval_episodes": 3}), run, resume=True, progress=False)  # a meta-test key
    assert (run / "checkpoint" / "training.json").read_text() == before


def test_resume_after_an_interruption_matches_the_uninterrupted_run(run, tmp_path, monkeypatch):
    out = tmp_path / "interrupted"
    calls = {"n": 0}
    real_step = MetaRLAgent.meta_step

    def interrupted_step(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:  # Ctrl-C during the third iteration
            raise KeyboardInterrupt
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(MetaRLAgent, "meta_step", interrupted_step)
    with pytest.raises(KeyboardInterrupt):
        meta_train(MetaConfig(**TINY), out, progress=False)
    assert json.loads((out / "checkpoint" / "training.json").read_text()) == {"iterations_done": 2}
    monkeypatch.setattr(MetaRLAgent, "meta_step", real_step)
    meta_train(MetaConfig(**TINY), out, resume=True, progress=False)
    resumed, uninterrupted = weights(out / "checkpoint"), weights(run / "checkpoint")
    assert all(torch.allclose(resumed[k], uninterrupted[k], atol=1e-6) for k in uninterrupted)


def test_resume_after_a_kill_continues_from_the_last_checkpoint(tmp_path):
    config = write_config(tmp_path / "tiny.yaml", iterations=8, tasks_per_iteration=3)
    out = tmp_path / "run"
    command = [sys.executable, "-m", "recsim_meta.cli", "meta-train", "--config", str(config), "--out", str(out)]
    process = subprocess.Popen([*command, "--threads", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = out / "checkpoint" / "training.json"
    deadline = time.time() + 120
    while not state.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    killed_at = json.loads(state.read_text())["iterations_done"]
    assert killed_at < 8, "the run finished before it could be killed"
    pretrained = weights(out / "pretrained")
    cli(["meta-train", "--config", str(config), "--out", str(out), "--resume", "--threads", "1"])
    assert json.loads(state.read_text())["iterations_done"] == 8
    assert all(torch.equal(v, weights(out / "pretrained")[k]) for k, v in pretrained.items())  # not redone


def test_meta_test_writes_curves_for_every_method_and_point(run):
    config = MetaConfig(**{**TINY, "adaptation_episodes": [0, 1], "eval_episodes": 1})
    agent = MetaRLAgent.load(run / "checkpoint", config.make_env())
    baseline = read_model(run / "pretrained")
    reference = {k: v.clone() for k, v in baseline.state_dict().items()}
    rows = meta_test(agent, baseline, config, seed=0, progress=False)
    assert all(set(r) == set(COLUMNS) for r in rows)
    tasks = len(config.make_env().unwrapped.splits.test_cohorts) + config.test_domain_tasks
    assert len(rows) == tasks * 2 * 5  # tasks x points x (three modes + the two fine-tuned)
    assert {r["method"] for r in rows} == {"in_context", "gradient", "both", FINETUNED, META_FINETUNED}
    assert {r["regime"] for r in rows} == {"held_out_cohorts", "held_out_domain"}
    assert all(np.isfinite(r["score"]) for r in rows)
    splits = config.make_env().unwrapped.splits
    tasks = {f"{t.domain}/{t.cohort}": t for t in (*splits.test_cohorts, *splits.test_domain)}
    assert all(r["score"] == normalized_score(tasks[r["task"]], r["return"]) for r in rows)
    zero = {r["method"]: r["return"] for r in rows if r["episodes"] == 0 and r["task"] == rows[0]["task"]}
    assert zero["in_context"] == zero["gradient"] == zero["both"] == zero[META_FINETUNED]  # nothing to adapt on yet
    assert all(torch.equal(v.cpu(), reference[k].cpu()) for k, v in baseline.state_dict().items())  # fine-tuning copies


def test_meta_test_runs_the_chosen_regimes_and_methods_and_names_bad_ones(run):
    config = MetaConfig(**{**TINY, "adaptation_episodes": [1], "eval_episodes": 1})
    agent = MetaRLAgent.load(run / "checkpoint", config.make_env())
    rows = meta_test(agent, None, config, seed=0, progress=False, regimes=["validation_cohorts"], methods=["gradient"])
    validation = config.make_env().unwrapped.splits.validation
    assert [r["task"] for r in rows] == [f"{t.domain}/{t.cohort}" for t in validation]
    assert {(r["regime"], r["method"]) for r in rows} == {("validation_cohorts", "gradient")}
    for regimes, methods, message in (
        (["held_out_users"], ["gradient"], "accepted: held_out_cohorts, held_out_domain, validation_cohorts"),
        (["held_out_cohorts"], ["oracle"], "accepted: in_context, gradient, both, finetuned, meta_finetuned"),
        ([], ["gradient"], "no regimes"),
        (["held_out_cohorts"], [FINETUNED], "needs the pretrained baseline"),
    ):
        with pytest.raises(ValueError, match=message):
            meta_test(agent, None, config, seed=0, progress=False, regimes=regimes, methods=methods)


def test_choose_adaptation_takes_the_best_validation_score_of_the_gradient_mode(run):
    config = MetaConfig(**{**TINY, "adaptation_episodes": [0, 1], "eval_episodes": 1})
    agent = MetaRLAgent.load(run / "checkpoint", config.make_env())
    candidates = [(0, 1.0), (1, 1.0), (3, 30.0)]  # no step at all, the trained rates, much stronger
    chosen, scores = choose_adaptation(agent, config, 0, candidates, progress=False)
    assert list(scores) == candidates and scores[chosen] == max(scores.values())
    after_one = dataclasses.replace(config, adaptation_episodes=(1,))
    for (steps, scale), score in scores.items():
        adapting = agent.with_adaptation(steps, scale)
        rows = meta_test(adapting, None, after_one, 0, False, ["validation_cohorts"], ["gradient"])
        assert score == np.mean([r["score"] for r in rows])
    assert len(set(scores.values())) > 1  # the setting changes the adapted agent
    with pytest.raises(ValueError, match="no candidate"):
        choose_adaptation(agent, config, 0, [], progress=False)


def test_meta_test_averages_the_adapted_results_over_draws_of_adaptation_episodes(run, tmp_path):
    config = MetaConfig(**{**TINY, "adaptation_episodes": [0, 1], "eval_episodes": 1})
    twice = dataclasses.replace(config, adaptation_draws=2)
    agent = MetaRLAgent.load(run / "checkpoint", config.make_env())
    baseline = read_model(run / "pretrained")
    one, two = (meta_test(agent, baseline, c, seed=0, progress=False) for c in (config, twice))
    assert [(r["task"], r["method"], r["episodes"]) for r in one] == [
        (r["task"], r["method"], r["episodes"]) for r in two
    ]
    pairs = [(a["return"], b["return"], a["episodes"]) for a, b in zip(one, two, strict=True)]
    assert all(a == b for a, b, k in pairs if k == 0)  # before adaptation every draw is the same
    assert any(a != b for a, b, k in pairs if k == 1)  # after it, the mean over two draws
    assert meta_test(agent, baseline, twice, seed=0, progress=False) == two


def test_meta_quality_keeps_each_seeds_rows_and_meta_tests_again_only_when_the_settings_change(
    run, tmp_path, monkeypatch, capsys
):
    script = experiment_script("meta_quality")
    config, out = write_config(tmp_path / "tiny.yaml"), tmp_path / "out"
    shutil.copytree(run, out / "seed_0")  # a finished run: meta_train resumes it

    def meta_quality(*options: str) -> str:
        command = ["--config", str(config), "--seeds", "0", "--out", str(out), "--threads", "1", "--points", "0", "1"]
        monkeypatch.setattr(sys, "argv", ["meta_quality.py", *command, *options])
        script.main()
        captured = capsys.readouterr()  # the tables on stdout, each seed's progress on stderr
        return captured.out + captured.err

    assert "seed 0: meta-training" in meta_quality()
    assert "seed 0: meta-training" in meta_quality("--set", "eval_episodes=1")  # new settings: tested again
    curves = (out / "curves.csv").read_text()
    assert (
        curves == (out / "seed_0" / "curves.csv").read_text()
        and "eval_episodes: 1" in (out / "seed_0" / "curves.yaml").read_text()
    )
    shutil.rmtree(out / "seed_0" / "checkpoint")  # the kept rows need no agent
    printed = meta_quality("--set", "eval_episodes=1")
    assert "seed 0: the rows of" in printed and (out / "curves.csv").read_text() == curves
    assert "minus 0 episodes" in printed and "p (sign flip)" in printed


def test_the_in_context_probe_reports_what_the_memory_holds_and_moves(run, tmp_path, monkeypatch, capsys):
    script = experiment_script("in_context_probe")
    shutil.copytree(run, tmp_path / "seed_0")
    command = ["--seeds", "0", "--out", str(tmp_path), "--episodes", "2", "--users", "2"]
    monkeypatch.setattr(sys, "argv", ["in_context_probe.py", *command])
    script.main()
    printed = capsys.readouterr().out
    assert "The memory (recent) holds 10 interactions; the 2 adaptation episodes last" in printed
    share = float(printed.split("steps on average, and ")[1].split("%")[0])
    assert 0 <= share <= 100
    for regime in ("held_out_cohorts", "held_out_domain"):  # empty and another task's memory, three ranges of steps
        assert sum(line.startswith(f"| {regime} |") for line in printed.splitlines()) == 6


def test_meta_quality_chooses_the_test_time_setting_per_seed_and_keeps_the_choice(run, tmp_path, monkeypatch, capsys):
    script = experiment_script("meta_quality")
    config, out = write_config(tmp_path / "tiny.yaml", eval_episodes=1), tmp_path / "out"
    shutil.copytree(run, out / "seed_0")
    command = ["--config", str(config), "--seeds", "0", "--out", str(out), "--threads", "1", "--points", "0", "1"]
    choose = ["--choose-adaptation", "1:1", "3:30", "--regimes", "held_out_cohorts", "--methods", "gradient", FINETUNED]

    def meta_quality(*options: str) -> str:
        monkeypatch.setattr(sys, "argv", ["meta_quality.py", *command, *options])
        script.main()
        captured = capsys.readouterr()  # the tables on stdout, each seed's progress on stderr
        return captured.out + captured.err

    printed = meta_quality(*choose)
    choice = yaml.safe_load((out / "seed_0" / "curves_choice.yaml").read_text())
    assert choice["chosen"] in ("1:1", "3:30") and list(choice["validation_scores"]) == ["1:1", "3:30"]
    assert f"seed 0: {choice['chosen']} (1:1 " in printed
    rows = read_rows(out / "curves.csv")
    assert {(r["regime"], r["method"]) for r in rows} == {("held_out_cohorts", m) for m in ("gradient", FINETUNED)}
    again = meta_quality(*choose)
    assert "seed 0: the rows of" in again and f"seed 0: {choice['chosen']} (1:1 " in again
    in_returns = meta_quality("--tables-only", "--value", "return")
    assert "Return minus the fine-tuned baseline's" in in_returns and "Score minus" not in in_returns
    assert "seed 0: meta-training" in meta_quality()  # other settings: tested again, all regimes and methods
    for bad in ("3", "3:0", "x:1"):
        with pytest.raises(SystemExit):
            meta_quality("--choose-adaptation", bad)
        assert "expected STEPS:SCALE" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        meta_quality("--choose-adaptation", "1:1", "--test-adaptation", "3", "2")
    assert "not allowed with argument" in capsys.readouterr().err


def test_cli_adapt_reports_before_and_after(run, capsys):
    task = f"video/{sample_tasks('video', 10, 0)[3].cohort}"
    cli(["adapt", "--checkpoint", str(run / "checkpoint"), "--task", task, "--episodes", "1", "--eval-episodes", "2"])
    out = capsys.readouterr().out
    assert "before: mean return" in out and "after: mean return" in out
    cli(["adapt", "--checkpoint", str(run / "checkpoint"), "--task", task, "--episodes", "1", "--mode", "finetune"])
    assert "mode finetune" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli(["adapt", "--checkpoint", str(run / "checkpoint"), "--task", task, "--mode", "everything"])
    assert "finetune" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli(["adapt", "--checkpoint", str(run / "checkpoint"), "--task", "cinema/1"])
    assert "DOMAIN one of" in capsys.readouterr().err


def test_tables_average_over_tasks_and_seeds_and_pair_methods_on_the_same_users():
    rows = [
        {"regime": "r", "method": method, "episodes": k, "task": task, "seed": seed, "score": score + k / 50}
        for method, scores in ((FINETUNED, [0.1, 0.5, 0.3, 0.7]), ("gradient", [0.3, 0.4, 0.6, 0.9]))
        for k in (0, 5)
        for (task, seed), score in zip([("a", 0), ("b", 0), ("a", 1), ("b", 1)], scores, strict=True)
    ]
    assert "| r | gradient | 0.550 [0.291, 0.809] | 0.650 [0.391, 0.909] |" in curve_table(rows)
    table = difference_table(paired_differences(rows), "minus finetuned")
    assert "| r | gradient | +0.150 [" in table and "(75%)" in table  # differences 0.2, -0.1, 0.3, 0.2
    assert FINETUNED not in table.splitlines()[2] and "5 episodes: minus finetuned (ahead)" in table
    # seed 0: 0.2, -0.1; seed 1: 0.3, 0.2; two seeds ahead, p = 1/4 (both signs kept of the four flips)
    assert "| r | gradient | +0.050 | +0.250 | +0.150 | 2/2 | 0.250 |" in seed_difference_table(
        paired_differences(rows)
    )
    gains = adaptation_gains(rows)  # every score rose by 5/50 from 0 to 5 episodes
    assert set(gains) == {("r", m, 5, t, s) for m in (FINETUNED, "gradient") for t in "ab" for s in (0, 1)}
    assert np.allclose(list(gains.values()), 0.1)
    assert "| r | finetuned | +0.100 [+0.100, +0.100] (100%) |" in difference_table(gains, "minus 0 episodes")
    assert paired_differences([r for r in rows if r["method"] != FINETUNED]) == {}  # a meta-test without it


def test_meta_training_summary_reads_the_rates_and_returns_of_each_run(run, monkeypatch, capsys):
    script = experiment_script("meta_training_summary")
    rate, query, support, steps = script.scalars(run, "inner_lr", "query/return", "support/return", "env_steps")
    assert len(rate) == len(query) == len(support) == len(steps) == TINY["iterations"] and np.all(rate > 0)
    monkeypatch.setattr(sys, "argv", ["meta_training_summary.py", str(run)])
    script.main()
    printed = capsys.readouterr().out
    minutes = script.minutes(run)
    assert 0 < minutes < 60  # the tiny run's pretraining and iterations
    expected = f"| {run.name} | {TINY['iterations']} | {steps.sum():,.0f} | {minutes:.1f} | {rate.min():.4f} to "
    assert expected + f"{rate.max():.4f} | {np.mean(query - support):+.1f} |" in printed
    with pytest.raises(SystemExit, match="has no TensorBoard log"):
        script.scalars(run / "checkpoint", "inner_lr")
