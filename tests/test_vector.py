"""RecVectorEnv: registration, exact agreement with RecEnv at B = 1, same statistics at B > 1,
next-step autoreset, bad actions, flat memory."""

import copy
import multiprocessing
import tracemalloc

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.spaces import Discrete
from gymnasium.vector import VectorEnv
from hypothesis import given, settings
from hypothesis import strategies as st

import recsim_meta
from recsim_meta import MultiDomainVectorEnv, RecVectorEnv
from recsim_meta.envs import MULTI_DOMAIN_ID
from recsim_meta.envs.world import _NO_FRIENDS as NO_FRIENDS  # the placeholder of a domain without friends
from recsim_meta.sim.kernels import (
    PARALLEL_ROWS,
    draw_candidates,
    draw_session_candidates,
    observe_sessions,
)
from recsim_meta.sim.pcg64 import generator_state

PRESET_IDS = [env_id for env_id in recsim_meta.ENV_IDS if env_id != MULTI_DOMAIN_ID]


def make_vec(env_id: str, num_envs: int, **kwargs) -> VectorEnv:
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)


def random_slates(rng: np.random.Generator, envs: VectorEnv) -> np.ndarray:
    """Distinct random positions per user, as ``RandomPolicy`` picks them."""
    space = envs.single_action_space
    num_candidates, slate_size = (space.n, 1) if isinstance(space, Discrete) else (space.nvec[0], len(space.nvec))
    slates = np.argsort(rng.random((envs.num_envs, num_candidates)), axis=1)[:, :slate_size]
    return slates[:, 0] if slate_size == 1 else slates


@pytest.mark.parametrize("env_id", recsim_meta.ENV_IDS)
def test_make_vec_returns_the_native_vector_env_with_batched_spaces(env_id):
    envs = make_vec(env_id, 8)
    assert isinstance(envs, MultiDomainVectorEnv if env_id == MULTI_DOMAIN_ID else RecVectorEnv)
    single = gym.make(env_id)
    assert envs.single_observation_space == single.observation_space
    assert envs.single_action_space == single.action_space
    obs, _ = envs.reset(seed=0)
    assert envs.observation_space.contains(obs)
    obs, reward, terminated, truncated, info = envs.step(envs.action_space.sample())
    assert envs.observation_space.contains(obs) and reward.shape == terminated.shape == (8,)
    assert info["clicked"].shape == (8,) and info["_clicked"].all()


@pytest.mark.parametrize("env_id", PRESET_IDS)
def test_one_user_replays_the_single_env_exactly_until_the_episode_ends(env_id):
    single, envs = gym.make(env_id), make_vec(env_id, 1)
    obs, _ = single.reset(seed=11)
    batch, _ = envs.reset(seed=11)
    rng = np.random.default_rng(0)
    for _ in range(single.spec.max_episode_steps):
        for key in obs:
            np.testing.assert_array_equal(batch[key][0], obs[key])
        action = random_slates(rng, envs)
        obs, reward, terminated, truncated, _ = single.step(action[0])
        batch, rewards, terms, truncs, _ = envs.step(action)
        assert (rewards[0], terms[0], truncs[0]) == (reward, terminated, truncated)
        if terminated or truncated:
            break


def episode_statistics_single(env_id: str, episodes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    env = gym.make(env_id)
    rng = np.random.default_rng(1)
    config = env.unwrapped.config
    returns, lengths, clicks = [], [], []
    for episode in range(episodes):
        env.reset(seed=episode)
        total, steps, clicked, done = 0.0, 0, 0, False
        while not done:
            slate = np.argsort(rng.random(config.num_candidates))[: config.slate_size]
            _, reward, terminated, truncated, info = env.step(slate[0] if config.slate_size == 1 else slate)
            total, steps, clicked, done = total + reward, steps + 1, clicked + info["clicked"], terminated or truncated
        returns.append(total), lengths.append(steps), clicks.append(clicked)
    return np.array(returns), np.array(lengths), np.array(clicks)


def episode_statistics_vector(env_id: str, num_envs: int, episodes_per_user: int) -> tuple[np.ndarray, ...]:
    """The first episodes of every user (waiting for all of them: the first episodes to end are the short ones)."""
    envs = make_vec(env_id, num_envs)
    envs.reset(seed=123)
    rng = np.random.default_rng(2)
    total, steps, clicked = np.zeros(num_envs), np.zeros(num_envs), np.zeros(num_envs)
    restart = np.zeros(num_envs, dtype=bool)
    finished = np.zeros(num_envs, dtype=int)
    returns, lengths, clicks = [], [], []
    while finished.min() < episodes_per_user:
        _, reward, terminated, truncated, info = envs.step(random_slates(rng, envs))
        live = ~restart  # the users whose step counted (the others were autoreset)
        total[live] += reward[live]
        steps[live] += 1
        clicked[live] += info["clicked"][live]
        done = terminated | truncated
        for user in np.flatnonzero(done & (finished < episodes_per_user)):
            returns.append(total[user]), lengths.append(steps[user]), clicks.append(clicked[user])
        finished += done
        total[done] = steps[done] = clicked[done] = 0
        restart = done
    return np.array(returns), np.array(lengths), np.array(clicks)


@pytest.mark.parametrize("env_id", recsim_meta.ENV_IDS)
def test_many_users_follow_the_single_env_distribution(env_id):
    """Return, session length, clicks and CTR of random-policy episodes agree within 4 standard errors."""
    single = episode_statistics_single(env_id, 150)
    vector = episode_statistics_vector(env_id, 64, 5)
    names = ("return", "length", "clicks", "ctr")
    for name, a, b in zip(names, (*single, single[2] / single[1]), (*vector, vector[2] / vector[1]), strict=True):
        se = np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
        assert abs(a.mean() - b.mean()) < 4 * se + 1e-9, (name, a.mean(), b.mean(), se)


def test_next_step_autoreset_and_truncation():
    envs = make_vec("recsim_meta/Video-v0", 16, max_episode_steps=5)
    envs.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(5):
        _, _, terminated, truncated, _ = envs.step(random_slates(rng, envs))
    ended = terminated | truncated
    assert truncated[~terminated].all()  # every user still in its session is cut at 5 steps
    obs, reward, terminated, truncated, info = envs.step(random_slates(rng, envs))
    assert np.all(reward[ended] == 0) and not (terminated[ended] | truncated[ended]).any()
    assert np.all(obs["history_ids"][ended] == -1) and np.all(obs["user_features"][ended, 0] == 0)
    assert not info["_clicked"][ended].any() and info["_clicked"][~ended].all()


def test_per_user_seed_lists_are_reproducible_and_checked():
    a, b = make_vec("recsim_meta/News-v0", 3), make_vec("recsim_meta/News-v0", 3)
    obs_a, _ = a.reset(seed=[1, 2, 3])
    obs_b, _ = b.reset(seed=[1, 2, 3])
    np.testing.assert_array_equal(obs_a["candidate_ids"], obs_b["candidate_ids"])
    assert not np.array_equal(obs_a["candidate_ids"], b.reset(seed=[1, 2, 4])[0]["candidate_ids"])
    with pytest.raises(ValueError, match="one seed per user: got 2 seeds for num_envs=3"):
        a.reset(seed=[1, 2])


def test_bad_actions_and_options_raise_and_change_nothing():
    envs, twin = make_vec("recsim_meta/Ecommerce-v0", 4), make_vec("recsim_meta/Ecommerce-v0", 4)
    envs.reset(seed=0), twin.reset(seed=0)
    before = copy.deepcopy(envs.sessions)
    for action, problem in [
        (np.zeros((4, 3), dtype=np.int64), "shape"),
        (np.full((4, 4), 20), "out of range"),
        (np.zeros((4, 4)), "dtype"),
        (np.zeros(4, dtype=np.int64), "shape"),
    ]:
        with pytest.raises(ValueError, match=problem):
            envs.step(action)
    np.testing.assert_array_equal(before.candidates, envs.sessions.candidates)
    np.testing.assert_array_equal(before.users.interest, envs.sessions.users.interest)
    with pytest.raises(ValueError, match="unknown reset option"):
        envs.reset(seed=5, options={"tsk": 1})  # nor is the generator reseeded
    action = np.tile(np.arange(4), (4, 1))
    np.testing.assert_array_equal(envs.step(action)[0]["candidate_ids"], twin.step(action)[0]["candidate_ids"])
    with pytest.raises(ValueError, match=r"num_envs must be (an integer|in \[1, 262144\])"):
        make_vec("recsim_meta/Ecommerce-v0", 0)


@pytest.mark.parametrize(
    "env_id, kwargs", [("recsim_meta/Social-v0", {}), (MULTI_DOMAIN_ID, {"domains": ("news", "video")})]
)
def test_memory_stays_flat_over_many_steps(env_id, kwargs):
    envs = make_vec(env_id, 256, **kwargs)  # MultiDomain: 12 tasks (each costs a step), users moving among them
    envs.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = [random_slates(rng, envs) for _ in range(20)]
    tracemalloc.start()
    for action in actions * 2:  # warm up, traced: every buffer exists (MultiDomain's are remade as users move)
        envs.step(action)
    start = tracemalloc.get_traced_memory()[0]
    for action in actions * 15:  # 300 steps, 76,800 user-steps
        envs.step(action)
    growth = tracemalloc.get_traced_memory()[0] - start
    tracemalloc.stop()
    assert growth < 256 * 1024, growth


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 4), st.integers(0, 2**32 - 1))
def test_session_candidates_draw_as_numpy_and_put_related_items_first(related, seed):
    """The neighbours of the latest click, drawn as ``rng.random`` would after ``rng.choice``, then the
    uniform sample's items; the generator ends where numpy's would."""
    rng = np.random.default_rng(seed)
    degree = rng.integers(0, 4, 8)
    neighbours = np.where(np.arange(4) < degree[:, None], rng.integers(0, 8, (8, 4)), -1)
    history = rng.integers(-1, 8, (1, 6))
    clicked = np.where(history >= 0, rng.random((1, 6)) < 0.5, 0).astype(np.float32)
    numpy_rng, compiled_rng = np.random.default_rng(seed + 1), np.random.default_rng(seed + 1)
    uniform, draws = numpy_rng.choice(8, 5, replace=False), numpy_rng.random(related)
    clicks = np.flatnonzero(clicked[0])
    source = history[0, clicks[-1]] if len(clicks) else 0
    count = degree[source] if len(clicks) else 0
    kept = list(dict.fromkeys(neighbours[source, slot] for slot in (draws * count).astype(np.int64) if slot < count))
    expected = (kept + [item for item in uniform if item not in kept])[:5]
    state, spare = generator_state(compiled_rng)
    candidates = np.empty((1, 5), dtype=np.int64)
    draw_session_candidates(state, spare, clicked, history, degree, neighbours, 8, related, candidates)
    assert candidates.tolist() == [expected]
    assert compiled_rng.bit_generator.state == numpy_rng.bit_generator.state


def splitmix64(key: int, counter: int) -> int:
    """SplitMix64's output for state ``key + counter * 0x9E3779B97F4A7C15`` (mod 2^64), in plain Python."""
    mask = 2**64 - 1
    z = (key + counter * 0x9E3779B97F4A7C15) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return z ^ (z >> 31)


def plain_draw_candidates(clicked, history, degree, neighbours, num_items, size, related, key) -> list[list[int]]:
    """``draw_candidates`` in plain Python, from its docstring."""
    result = []
    for row in range(len(clicked)):
        counter, chosen = row << 32, []
        clicks = np.flatnonzero(clicked[row])
        source = history[row, clicks[-1]] if len(clicks) else 0
        count = degree[source] if len(clicks) else 0
        for _ in range(related):
            counter += 1
            slot = int((splitmix64(key, counter) >> 11) * 2.0**-53 * count)
            if slot < count and neighbours[source, slot] not in chosen:
                chosen.append(int(neighbours[source, slot]))
        while len(chosen) < size:
            counter += 1
            product = (splitmix64(key, counter) >> 32) * num_items
            if product % 2**32 >= 2**32 % num_items and product >> 32 not in chosen:
                chosen.append(product >> 32)
        result.append(chosen)
    return result


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 12), st.integers(1, 40), st.data())
def test_drawn_candidates_agree_with_plain_python(num_items, rows, data):
    """Serial and threaded, also for a sample of the whole catalogue."""
    size = data.draw(st.integers(1, num_items))
    related = data.draw(st.integers(0, size))
    rng = np.random.default_rng(data.draw(st.integers(0, 99)))
    degree = rng.integers(0, 4, num_items)
    neighbours = np.where(np.arange(3) < degree[:, None], rng.integers(0, num_items, (num_items, 3)), -1)
    history = rng.integers(0, num_items, (rows, 4))
    clicked = (rng.random((rows, 4)) < 0.5).astype(np.float32)
    key = data.draw(st.integers(0, 2**64 - 1))
    args = (clicked, history, degree, neighbours, num_items, size, related)
    expected = plain_draw_candidates(*args, key)
    for kernel in (draw_candidates.serial, draw_candidates.threaded):
        assert kernel(*args, np.uint64(key)).tolist() == expected


def test_drawn_candidates_are_uniform_over_ordered_samples():
    """Each of the 5 * 4 * 3 = 60 ordered samples of 3 of 5 items is equally likely (chi-square test)."""
    rows, degree, neighbours = 60_000, np.zeros(5, dtype=np.int64), np.full((5, 1), -1)
    no_clicks, history = np.zeros((rows, 1)), np.zeros((rows, 1), dtype=np.int64)
    sample = draw_candidates(no_clicks, history, degree, neighbours, 5, 3, 1, np.uint64(12345))  # no related: no click
    _, counts = np.unique(sample @ np.array([25, 5, 1]), return_counts=True)
    assert len(counts) == 60
    chi_square = ((counts - 1000.0) ** 2 / 1000.0).sum()
    assert chi_square < 98.3  # the 0.999 quantile of chi-square with 59 degrees of freedom


def test_drawn_related_candidates_are_uniform_over_the_neighbours():
    """One related slot after a click on item 0, whose 4 neighbours are 1-4: each comes first equally often
    (chi-square tests at the 0.999 quantile), and the next slot is uniform over the items not yet in the row."""
    rows = 40_000
    neighbours = np.array([[1, 2, 3, 4]] + [[-1] * 4] * 9)
    degree = np.array([4] + [0] * 9)
    clicked, history = np.ones((rows, 1)), np.zeros((rows, 1), dtype=np.int64)
    args = (clicked, history, degree, neighbours, 10, 3, 1, np.uint64(7))
    sample = draw_candidates.threaded(*args)
    np.testing.assert_array_equal(sample, draw_candidates.serial(*args))  # rows shared among threads or not
    counts = np.bincount(sample[:, 0], minlength=10)
    assert counts[[0, *range(5, 10)]].sum() == 0
    assert ((counts[1:5] - rows / 4) ** 2 / (rows / 4)).sum() < 16.3  # 3 degrees of freedom
    second = np.bincount(sample[sample[:, 0] == 1, 1], minlength=10)  # uniform over the 9 items other than 1
    expected = counts[1] / 9
    assert second[1] == 0 and ((np.delete(second, 1) - expected) ** 2 / expected).sum() < 26.2  # 8 degrees of freedom


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 700), st.integers(1, 6), st.integers(1, 5), st.booleans(), st.integers(0, 2**32 - 1))
def test_compiled_observation_matches_numpy(rows, columns, features, social, seed):
    """What numpy computed before the compiled observation: gathered features (the friend signal in the last
    column of a social domain), copies of the history, the session statistics in float32."""
    rng = np.random.default_rng(seed)
    table, candidates = rng.normal(size=(9, features)).astype(np.float32), rng.integers(0, 9, (rows, columns))
    history_ids, history_responses = rng.integers(-1, 9, (rows, 4)), rng.normal(size=(rows, 4, 3)).astype(np.float32)
    steps, clicks, time_spent = (rng.integers(0, 50, rows).astype(np.float64) for _ in range(3))
    last_reward = rng.normal(size=rows)
    signal, member = rng.normal(size=(3, 9)).astype(np.float32), rng.integers(0, 3, rows)
    gathered = np.take(table, candidates, axis=0)
    if social:
        gathered[:, :, -1] = np.take(signal, member[:, None] * 9 + candidates)
    else:
        signal, member = NO_FRIENDS[:2]
    statistics = [np.log1p(steps), clicks / np.maximum(steps, 1), last_reward, np.log1p(time_spent)]
    expected = (
        candidates,
        gathered.reshape(rows, -1),
        history_ids,
        history_responses.reshape(rows, -1),
        np.stack(statistics, axis=1).astype(np.float32),
    )
    for kernel in (observe_sessions.serial, observe_sessions.threaded):
        out = tuple(np.zeros(want.shape, dtype=want.dtype) for want in expected)
        kernel(
            candidates,
            table,
            history_ids,
            history_responses,
            steps,
            clicks,
            last_reward,
            time_spent,
            signal,
            member,
            *out,
        )
        for got, want in zip(out, expected, strict=True):
            np.testing.assert_array_equal(got, want)


def _step_large_vector_env(queue) -> None:
    envs = make_vec("recsim_meta/Game-v0", PARALLEL_ROWS)
    envs.reset(seed=1)
    envs.step(envs.action_space.sample())
    queue.put("stepped")


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_a_child_forked_after_the_threads_started_still_steps_a_large_vector_env():
    """GNU OpenMP kills such a child as soon as it starts threads; it must run the plain loops instead."""
    envs = make_vec("recsim_meta/Game-v0", PARALLEL_ROWS)
    envs.reset(seed=0)
    envs.step(envs.action_space.sample())  # starts numba's threads in this process
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_step_large_vector_env, args=(queue,))
    child.start()
    child.join(60)
    assert child.exitcode == 0 and queue.get(timeout=5) == "stepped"
