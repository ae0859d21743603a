"""Devices: the BERT agents run where their model is (``device``, as in stable-baselines3), and saved agents and
checkpoints load on any device. The CUDA tests need a GPU and are skipped without one (as in CI)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from stable_baselines3.common.utils import get_device
from tiny_configs import TINY, TINY_MODEL

from recsim_meta.agents.logged_data import collect_logs
from recsim_meta.agents.meta_rl import MetaRLAgent
from recsim_meta.agents.meta_training import MetaConfig, meta_train
from recsim_meta.agents.pretraining import next_item_scores, pretrain
from recsim_meta.agents.recommender_policy import RecommenderPolicy
from recsim_meta.cli import main as cli
from recsim_meta.evaluation.adaptation import meta_test

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(scope="module")
def config() -> MetaConfig:
    return MetaConfig(**TINY)


def test_the_default_device_is_stable_baselines3s_auto(config):
    env = config.make_env()
    agent = MetaRLAgent(RecommenderPolicy.for_env(env, seed=0, **TINY_MODEL).model, env)
    assert agent.device == get_device("auto") == RecommenderPolicy(agent.model, env).device
    assert agent.model.device.type == agent.device.type
    assert {p.device.type for p in agent.meta.parameters()} == {agent.device.type}


def test_a_bad_device_is_refused_naming_the_accepted_ones(config, capsys):
    env = config.make_env()
    model = RecommenderPolicy.for_env(env, seed=0, device="cpu", **TINY_MODEL).model
    with pytest.raises(RuntimeError, match="Expected one of cpu, cuda"):
        MetaRLAgent(model, env, device="gpu")
    assert model.device == torch.device("cpu")
    with pytest.raises(SystemExit):
        cli(["adapt", "--checkpoint", "missing", "--task", "video/1", "--device", "gpu"])
    assert "'gpu' is not a device; accepted: auto, cpu, cuda, cuda:N" in capsys.readouterr().err


@needs_cuda
def test_the_recommender_pretrains_and_scores_on_cuda(config):
    env = config.make_env()
    policy = RecommenderPolicy.for_env(env, seed=0, device="cuda", **TINY_MODEL)
    log = collect_logs(env, 4, seed=0, progress=False)
    history = pretrain(policy.model, log, steps=5, batch_size=32, progress=False)
    assert policy.model.device.type == "cuda" and all(np.isfinite(h["total"]) for h in history)
    scores = next_item_scores(policy.model, log)
    assert isinstance(scores, np.ndarray) and np.isfinite(scores[:, : min(log.num_items)]).all()
    observation, _ = env.reset(seed=3)
    on_cpu = RecommenderPolicy(policy.model, env, device="cpu")  # the same model, moved
    gpu_scores = RecommenderPolicy(policy.model.to("cuda"), env, device="cuda").scores(observation)
    np.testing.assert_allclose(gpu_scores, on_cpu.scores(observation), atol=1e-4)


@needs_cuda
def test_the_meta_rl_agent_trains_adapts_and_moves_between_devices(config, tmp_path, monkeypatch):
    out = tmp_path / "run"
    real_step, calls = MetaRLAgent.meta_step, {"n": 0}

    def interrupted_step(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:  # Ctrl-C during the third iteration, on the GPU
            raise KeyboardInterrupt
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(MetaRLAgent, "meta_step", interrupted_step)
    with pytest.raises(KeyboardInterrupt):
        meta_train(config, out, progress=False, device="cuda")
    monkeypatch.setattr(MetaRLAgent, "meta_step", real_step)
    resumed = meta_train(config, out, resume=True, progress=False, device="cpu")  # a GPU checkpoint, on the CPU
    assert json.loads((out / "checkpoint" / "training.json").read_text()) == {"iterations_done": config.iterations}
    assert resumed.model.device == torch.device("cpu")

    env = config.make_env()
    agent = MetaRLAgent.load(out / "checkpoint", env, seed=0, device="cuda")
    assert agent.model.device.type == "cuda"
    task = env.unwrapped.splits.test_domain[0]
    for mode in ("in_context", "gradient", "both"):
        agent.adapt(2, task, mode=mode, seed=1)
        assert all(p.device.type == "cuda" for p in (agent.state.params or {}).values())
    tuned = agent.finetuned(agent.adapt(1, task, seed=2), steps=2, learning_rate=1e-2)
    assert tuned.device == agent.device and tuned.model.device.type == "cuda"
    agent.save(tmp_path / "agent")
    on_cpu = MetaRLAgent.load(tmp_path / "agent", env, seed=0, device="cpu")
    for name, value in agent.model.state_dict().items():
        assert torch.equal(value.cpu(), on_cpu.model.state_dict()[name]), name
    agent.reset_task()
    agent.model.eval()  # no dropout in either
    on_cpu.model.eval()
    for seed in range(3):
        observation, _ = env.reset(seed=seed, options={"task": task})
        batches = [a.encode([observation], ["video"], [a.state]) for a in (agent, on_cpu)]
        scores = [a.model(b).scores.detach().cpu() for a, b in zip((agent, on_cpu), batches, strict=True)]
        torch.testing.assert_close(scores[0], scores[1], atol=1e-4, rtol=1e-4)
        assert env.action_space.contains(agent.predict(observation)[0])

    rows = meta_test(agent, on_cpu.model, config, seed=0, progress=False)  # the baseline goes to the agent's device
    assert rows and all(np.isfinite(r["score"]) for r in rows)
