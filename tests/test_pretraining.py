"""Pretraining with a tiny config: the losses, learning, TensorBoard logs, next-item scores and metrics."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from tiny_configs import TINY_MODEL as TINY

from recsim_meta.agents import PopularityPolicy
from recsim_meta.agents.bert_recommender import LOSSES, with_next_item_slot
from recsim_meta.agents.logged_data import collect_logs
from recsim_meta.agents.pretraining import LogEncoder, multitask_losses, next_item_scores, pretrain
from recsim_meta.agents.recommender_policy import RecommenderPolicy
from recsim_meta.evaluation.offline import hit_rate_ndcg, popularity_scores
from recsim_meta.evaluation.rollout import evaluation_tasks, run_on_tasks


@pytest.fixture(scope="module")
def setting():
    env = gym.make("recsim_meta/MultiDomain-v0", domains=("ecommerce", "news"))
    log = collect_logs(env, episodes=12, progress=False)
    return env, log


def test_losses_are_finite_and_pretraining_lowers_them(setting, tmp_path):
    env, log = setting
    policy = RecommenderPolicy.for_env(env, seed=0, **TINY)
    rows = np.arange(64)
    encoder = LogEncoder(policy.model.config, log)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        before = multitask_losses(policy.model, encoder, rows, 0.2, generator)
    assert set(before) == set(LOSSES)
    assert all(torch.isfinite(loss) and loss > 0 for loss in before.values())
    history = pretrain(policy.model, log.select(rows), steps=40, batch_size=64, log_dir=tmp_path, progress=False)
    assert len(history) == 40 and history[-1]["total"] < 0.8 * history[0]["total"]
    assert list(tmp_path.glob("events.out.tfevents.*"))


def test_next_item_scores_rank_the_rows_domain(setting):
    env, log = setting
    policy = RecommenderPolicy.for_env(env, seed=0, **TINY)
    scores = next_item_scores(policy.model, log)
    assert scores.shape == (len(log), 500) and np.isfinite(scores).all()
    encoder = LogEncoder(policy.model.config, log)
    row = int(np.flatnonzero(log.domain == 1)[0])
    with torch.no_grad():
        logits = policy.model.masked_item_logits(policy.model(with_next_item_slot(encoder.batch(np.array([row])))))
    start = policy.model.config.item_offsets[1]
    np.testing.assert_allclose(scores[row], logits[0, -1, start : start + 500].cpu().numpy(), rtol=1e-5, atol=1e-5)


def test_the_model_must_cover_the_logs_domains(setting):
    _, log = setting
    policy = RecommenderPolicy.for_env(gym.make("recsim_meta/Ecommerce-v0"), seed=0, **TINY)
    with pytest.raises(ValueError, match=r"the model's vocabulary has no domain \['news'\]"):
        pretrain(policy.model, log, steps=1, progress=False)
    with pytest.raises(ValueError, match="steps and batch_size must be >= 1"):
        pretrain(policy.model, log.select(log.domain == 0), steps=0, progress=False)


@settings(max_examples=50, deadline=None)
@given(
    arrays(np.float64, st.tuples(st.integers(1, 20), st.integers(2, 30)), elements=st.floats(-5, 5)),
    st.integers(1, 12),
    st.data(),
)
def test_hit_rate_and_ndcg_properties(scores, k, data):
    targets = np.array([data.draw(st.integers(0, scores.shape[1] - 1)) for _ in range(len(scores))])
    hr, ndcg = hit_rate_ndcg(scores, targets, k)
    assert 0.0 <= ndcg <= hr <= 1.0
    if k >= scores.shape[1]:
        assert hr == 1.0
    best = scores.copy()
    best[np.arange(len(targets)), targets] = 10.0  # the target on top
    assert hit_rate_ndcg(best, targets, k) == (1.0, 1.0)


def test_popularity_counts_clicks_per_domain():
    items, domains = np.array([1, 1, 2, -1, 0]), np.array([0, 0, 0, 0, 1])
    scores = popularity_scores(items, domains, np.array([0, 1]), size=3)
    assert np.argmax(scores[0]) == 1 and np.argmax(scores[1]) == 0
    assert hit_rate_ndcg(scores, np.array([1, 0]), k=1) == (1.0, 1.0)


def test_pretrained_greedy_recommender_beats_popularity_online():
    """The online claim in a small setting: e-commerce logs, a tiny model, paired evaluation episodes."""
    env = gym.make("recsim_meta/Ecommerce-v0")
    log = collect_logs(env, episodes=60, seed=1, progress=False)
    policy = RecommenderPolicy.for_env(env, seed=0, **TINY)
    pretrain(policy.model, log, steps=150, batch_size=128, progress=False)
    tasks = evaluation_tasks(env, 2, seed=5)
    greedy = run_on_tasks(env, lambda e: policy, tasks, episodes=20, seed=500)
    popularity = run_on_tasks(env, PopularityPolicy, tasks, episodes=20, seed=500)
    assert greedy.returns.mean() > 1.1 * popularity.returns.mean()
