"""Interaction logs: collection, the NPZ schema, atomic saves, validation and bad-row reports."""

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from recsim_meta.agents.logged_data import ROW_FIELDS, collect_logs, load_logs, save_logs


@pytest.fixture(scope="module")
def log():
    return collect_logs(gym.make("recsim_meta/Ecommerce-v0"), episodes=4, epsilon=0.5, progress=False)


def test_rows_follow_the_schema_and_the_env(log):
    env = gym.make("recsim_meta/Ecommerce-v0")
    config = env.unwrapped.config
    n = len(log)
    assert n > 4 and log.domains == ("ecommerce",) and log.env_id == "recsim_meta/Ecommerce-v0"
    assert log.candidate_features.shape == (n, config.num_candidates, len(env.unwrapped.feature_names))
    assert log.slate.shape == (n, config.slate_size) and log.history_responses.shape == (n, config.history_length, 3)
    for name, (dtype, ndim) in ROW_FIELDS.items():
        assert getattr(log, name).dtype == dtype and getattr(log, name).ndim == ndim
    # the next row of the same episode remembers what this row's user consumed
    same_episode = log.episode[1:] == log.episode[:-1]
    clicked = log.clicked[:-1] & same_episode
    assert clicked.any()
    np.testing.assert_array_equal(log.history_ids[1:, -1][clicked], log.clicked_item[:-1][clicked])
    np.testing.assert_allclose(log.history_responses[1:, -1, 2][clicked], log.engagement[:-1][clicked])
    assert (log.reward[~log.clicked] <= 0).all()  # no click: no reward (suitability penalties only)


def test_collection_is_reproducible_and_checks_its_arguments(log):
    env = gym.make("recsim_meta/Ecommerce-v0")
    again = collect_logs(env, episodes=4, epsilon=0.5, progress=False)
    np.testing.assert_array_equal(again.slate, log.slate)
    with pytest.raises(ValueError, match="unknown behaviour policy 'greedy'; accepted: random, popularity"):
        collect_logs(env, 1, behaviour="greedy")
    with pytest.raises(ValueError, match=r"epsilon must be in \[0, 1\]"):
        collect_logs(env, 1, epsilon=1.5)


def test_multi_domain_logs_name_each_rows_domain():
    log = collect_logs(gym.make("recsim_meta/MultiDomain-v0"), episodes=6, progress=False)
    assert len(log.domains) == 6 and len(np.unique(log.domain)) > 1
    assert "friends_engaged" in log.feature_names


def test_save_load_round_trip(log, tmp_path):
    save_logs(log, tmp_path / "log.npz")
    loaded = load_logs(tmp_path / "log.npz")
    for name in ROW_FIELDS:
        np.testing.assert_array_equal(getattr(loaded, name), getattr(log, name))
    assert loaded.feature_names == log.feature_names and loaded.num_items == log.num_items


def test_a_failed_save_keeps_the_old_file(log, tmp_path, monkeypatch):
    path = tmp_path / "log.npz"
    save_logs(log, path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez_compressed", crash)
    with pytest.raises(KeyboardInterrupt):
        save_logs(log.select(np.arange(2)), path)
    assert path.read_bytes() == before and list(tmp_path.iterdir()) == [path]


def _rewrite(log, path: Path, **changes) -> None:
    save_logs(log, path)
    with np.load(path) as file:
        data = {name: file[name] for name in file.files}
    data.update(changes)
    for name in [name for name, value in changes.items() if value is None]:
        del data[name]
    np.savez(path, **data)


def test_bad_rows_are_reported_and_can_be_dropped(log, tmp_path):
    path = tmp_path / "bad.npz"
    candidates, reward = log.candidate_ids.copy(), log.reward.copy()
    candidates[3, 0] = 10_000
    reward[5] = np.nan
    _rewrite(log, path, candidate_ids=candidates, reward=reward)
    with pytest.raises(ValueError, match=r"2 of \d+ rows are invalid") as error:
        load_logs(path)
    assert "candidate id outside [0, num_items): rows 3" in str(error.value)
    assert "non-finite number: rows 5" in str(error.value)
    with pytest.warns(UserWarning, match="dropped"):
        kept = load_logs(path, drop_bad_rows=True)
    assert len(kept) == len(log) - 2


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"slate": None}, "missing field"),
        ({"reward": np.zeros(3, dtype=np.float32)}, "field 'reward' must be float32 with 1 axes and"),
        ({"history_ids": np.zeros((1, 1), dtype=np.float64)}, "field 'history_ids' must be int64"),
        ({"schema_version": np.array(99)}, "schema version 99"),
        ({"num_items": np.array([0])}, "one positive catalogue size per domain"),
    ],
)
def test_structural_problems_name_the_field(log, tmp_path, changes, message):
    path = tmp_path / "bad.npz"
    _rewrite(log, path, **changes)
    with pytest.raises(ValueError, match=message):
        load_logs(path)


class _Payload:
    def __reduce__(self):
        return (Path.touch, (Path("/tmp/recsim_meta_log_payload_ran"),))


def test_a_foreign_or_pickled_file_is_rejected_without_running_it(log, tmp_path):
    marker = Path("/tmp/recsim_meta_log_payload_ran")
    marker.unlink(missing_ok=True)
    path = tmp_path / "evil.npz"
    _rewrite(log, path, env_id=np.array([_Payload()], dtype=object))
    with pytest.raises(ValueError, match="not a readable NPZ interaction log"):
        load_logs(path)
    assert not marker.exists()
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="junk.npz is not a readable NPZ interaction log"):
        load_logs(tmp_path / "junk.npz")
    with pytest.raises(ValueError, match="not a readable"):
        load_logs(tmp_path / "missing.npz")
