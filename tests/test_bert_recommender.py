"""BertRecommender with a tiny config: shapes, masking, KG fusion, actions, save/load and bad files."""

import pickle
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from tiny_configs import TINY_MODEL as TINY

from recsim_meta.agents.bert_recommender import HEAD_MODULES, MASK, PAD, BertRecommender, RecommenderConfig, call_with
from recsim_meta.agents.encoding import ObservationEncoder, config_for_env, item_features_for_env, kg_edges_for_env
from recsim_meta.agents.recommender_policy import RecommenderPolicy


@pytest.fixture(scope="module")
def ecommerce():
    env = gym.make("recsim_meta/Ecommerce-v0")
    policy = RecommenderPolicy.for_env(env, seed=0, **TINY)
    obs, _ = env.reset(seed=0)
    for _ in range(4):  # some history
        obs, *_ = env.step(env.action_space.sample())
    return env, policy, obs


def test_forward_shapes(ecommerce):
    env, policy, obs = ecommerce
    batch = policy.encoder.encode({k: np.stack([v, v, v]) for k, v in obs.items()})
    output = policy.model(batch)
    m, h = env.unwrapped.config.num_candidates, env.unwrapped.config.history_length
    assert output.scores.shape == output.ctr_logits.shape == output.ratings.shape == (3, m)
    assert output.value.shape == (3,) and output.sequence.shape == (3, 1 + h, TINY["hidden_size"])
    assert policy.model.masked_item_logits(output).shape == (3, h, policy.model.config.vocab_size)


def test_heads_with_replaced_parameters_match_functional_call_and_pass_gradients(ecommerce):
    """``call_with`` gives exactly what ``torch.func.functional_call`` gives on every head, with parameters that
    differ from the module's, and the gradient reaches the replacing tensors."""
    _, policy, obs = ecommerce
    model = policy.model.eval()
    batch = policy.encoder.encode({k: np.stack([v, v]) for k, v in obs.items()})
    user, candidates = model.encode(batch)[0][:, 0], batch.candidate_features
    inputs = {"user_projection": batch.user_features, "feature_projection": candidates, "value_head": user}
    inputs["candidate_head"] = torch.randn(*candidates.shape[:2], 3 * model.config.hidden_size)
    for name in HEAD_MODULES:
        module = getattr(model, name)
        params = {k: (p + 0.1).detach().requires_grad_() for k, p in module.named_parameters()}
        expected = torch.func.functional_call(module, params, (inputs[name],))
        result = call_with(module, params, inputs[name])
        assert torch.equal(result, expected), name
        assert not torch.equal(result, module(inputs[name])), name
        result.sum().backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in params.values()), name


def test_masking_hides_the_item_but_padding_stays_padding(ecommerce):
    _, policy, obs = ecommerce
    model = policy.model.eval()
    batch = policy.encoder.encode(obs)
    valid = batch.history_tokens != PAD
    assert valid.any() and (~valid).any()
    last = valid.nonzero()[-1, 1]
    masked = torch.zeros_like(valid)
    masked[0, last] = True
    with torch.no_grad():
        plain, hidden = model(batch), model(batch, masked=masked)
        other = batch.history_tokens.clone()
        other[0, last] = batch.history_tokens[0, last] + 1  # another item in the masked slot
        swapped = model(batch.__class__(**{**batch.__dict__, "history_tokens": other}), masked=masked)
    assert not torch.allclose(plain.scores, hidden.scores)
    torch.testing.assert_close(hidden.scores, swapped.scores)  # the masked item is invisible
    assert MASK not in batch.history_tokens


def test_kg_fusion_follows_the_formula():
    config = RecommenderConfig(("d",), (4,), ("r0", "r1"), ("f",), ("u",), **TINY)
    base = 3 + 1  # PAD, MASK, UNKNOWN_DOMAIN, one domain token
    edges = np.array([[base, 0, base + 1], [base, 1, base + 2], [base + 3, 1, base]])
    model = BertRecommender(config, edges)
    with torch.no_grad():
        model.relation_weights.copy_(torch.tensor([2.0, 0.5]))
        model.kg_alpha.fill_(0.3)
        e = model.item_embeddings.weight
        fused = model.fused_item_embeddings()
        torch.testing.assert_close(fused[base], e[base] + 0.3 * (2.0 * e[base + 1] + 0.5 * e[base + 2]) / 2)
        torch.testing.assert_close(fused[base + 3], e[base + 3] + 0.3 * 0.5 * e[base])
        torch.testing.assert_close(fused[base + 1], e[base + 1])
    ablation = BertRecommender(
        RecommenderConfig(("d",), (4,), ("r0", "r1"), ("f",), ("u",), kg_fusion=False, **TINY), edges
    )
    torch.testing.assert_close(ablation.fused_item_embeddings(), ablation.item_embeddings.weight)


@pytest.mark.parametrize(
    "env_id, overrides",
    [
        ("recsim_meta/News-v0", {}),
        ("recsim_meta/Video-v0", {"slate_size": 1}),
        ("recsim_meta/MultiDomain-v0", {"hide_domain": True}),
    ],
)
def test_predict_returns_valid_actions(env_id, overrides):
    env = gym.make(env_id, **overrides)
    policy = RecommenderPolicy.for_env(env, seed=0, **TINY)
    obs, _ = env.reset(seed=1)
    for deterministic in (True, False):
        action, _ = policy.predict(obs, deterministic=deterministic)
        assert env.action_space.contains(np.asarray(action, dtype=np.int64).reshape(env.action_space.shape))
        if not np.isscalar(action):
            assert len(set(action.tolist())) == len(action)
        obs, *_ = env.step(action)


def test_save_load_round_trip_gives_identical_scores_and_actions(ecommerce, tmp_path):
    env, policy, obs = ecommerce
    policy.save(tmp_path / "model")
    policy.save(tmp_path / "model")  # overwriting an existing save works
    loaded = RecommenderPolicy.load(tmp_path / "model", env)
    tolerance = 0.0 if policy.device.type == "cpu" else 1e-6  # CUDA's atomic adds vary in the last bits
    np.testing.assert_allclose(loaded.scores(obs), policy.scores(obs), rtol=0.0, atol=tolerance)
    np.testing.assert_array_equal(loaded.predict(obs)[0], policy.predict(obs)[0])
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["bert", "heads.safetensors", "recommender.json"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind


EXPLOIT_MARKER = "/tmp/recsim_meta_exploit_marker"


class _Exploit:
    """Unpickling this creates ``EXPLOIT_MARKER``: a loader that runs pickles would leave the file behind."""

    def __reduce__(self):
        return (open, (EXPLOIT_MARKER, "w"))


@pytest.mark.parametrize("damage", ["truncate", "pickle", "config", "missing"])
def test_corrupted_or_foreign_files_give_a_clear_error_and_run_nothing(ecommerce, tmp_path, damage):
    env, policy, _ = ecommerce
    path = tmp_path / "model"
    policy.save(path)
    Path(EXPLOIT_MARKER).unlink(missing_ok=True)
    if damage == "truncate":
        data = (path / "heads.safetensors").read_bytes()
        (path / "heads.safetensors").write_bytes(data[: len(data) // 2])
        problem = "not a valid safetensors file"
    elif damage == "pickle":
        (path / "bert" / "model.safetensors").write_bytes(pickle.dumps(_Exploit()))
        problem = "not a valid safetensors file"
    elif damage == "config":
        (path / "recommender.json").write_text('{"domains": ["x"], "num_items": [5], "bogus": 1}')
        problem = "not a RecommenderConfig JSON"
    else:
        (path / "heads.safetensors").unlink()
        problem = "missing heads.safetensors"
    with pytest.raises(ValueError, match=problem):
        RecommenderPolicy.load(path, env)
    assert not Path(EXPLOIT_MARKER).exists()


def test_a_model_without_the_env_s_domain_or_columns_is_rejected():
    news = gym.make("recsim_meta/News-v0")
    config = config_for_env(news, **TINY)
    with pytest.raises(ValueError, match="no domain"):
        ObservationEncoder(config, gym.make("recsim_meta/Game-v0"))
    assert kg_edges_for_env(news, config).shape[1] == 3


def test_item_features_fill_each_domains_block_in_the_models_columns():
    env = gym.make("recsim_meta/MultiDomain-v0", domains=("news", "finance"), any_task=True)
    config = config_for_env(env, **TINY)
    table = item_features_for_env(env, config)
    assert table.shape == (config.vocab_size, len(config.feature_names))
    assert not table[: config.item_offsets[0]].any()  # special and domain tokens
    finance = env.unwrapped.envs["finance"]
    start = config.item_offsets[1]
    risk = config.feature_names.index("risk")
    np.testing.assert_array_equal(
        table[start : start + 500, risk], finance.item_features()[:, finance.feature_names.index("risk")]
    )
    assert not table[config.item_offsets[0] : start, risk].any()  # news has no risk column
    obs, _ = env.reset(seed=0, options={"task": finance.task})
    policy = RecommenderPolicy.for_env(env, seed=0, **TINY)
    batch = policy.encoder.encode(obs)
    # the candidates' observed features are their catalogue rows
    np.testing.assert_array_equal(table[batch.candidate_tokens[0].numpy()], batch.candidate_features[0].numpy())


def test_content_features_shape_the_item_embeddings():
    config = RecommenderConfig(("d",), (2,), (), ("f",), ("u",), **TINY)
    features = np.zeros((config.vocab_size, 1), dtype=np.float32)
    features[-1] = 1.0
    model = BertRecommender(config, item_features=features)
    with torch.no_grad():
        model.item_embeddings.weight.zero_()
        fused = model.fused_item_embeddings()
    assert not fused[-2].any() and fused[-1].abs().sum() > 0
    with pytest.raises(ValueError, match=r"item_features must have shape \(6, 1\)"):
        BertRecommender(config, item_features=np.zeros((3, 1)))
