"""The domain mechanisms: freshness, bursts, skill growth, churn, the social graph, suitability, validation."""

import dataclasses

import gymnasium as gym
import networkx as nx
import numpy as np
import pytest

from recsim_meta import make_config
from recsim_meta.agents import RandomPolicy
from recsim_meta.envs.domains import SuitabilityRule, UtilityTerm
from recsim_meta.envs.world import World
from recsim_meta.evaluation import run_episodes
from recsim_meta.sim.catalog import AttributeSpec, draw_attributes
from recsim_meta.sim.social import SocialSpec, make_social_graph
from recsim_meta.sim.tasks import Task
from recsim_meta.sim.users import TraitSpec


def world_and_sessions(domain: str, num_sessions: int = 64, seed: int = 0, **overrides):
    world = World(make_config(domain, **overrides), Task(domain=domain))
    rng = np.random.default_rng(seed)
    return world, world.start(rng, num_sessions), rng


def test_attribute_with_a_base_follows_it():
    rng = np.random.default_rng(0)
    specs = (
        AttributeSpec("risk", "normal", loc=0.5, scale=0.1, base="quality", slope=-0.2),
        AttributeSpec("volatility", "lognormal", loc=np.log(0.05), scale=0.1, base="risk", slope=2.0),
    )
    quality = rng.standard_normal(2000)
    columns = draw_attributes(rng, specs, np.zeros(2000, dtype=np.int64), 1, quality)
    assert np.corrcoef(quality, columns["risk"])[0, 1] < -0.5
    assert np.corrcoef(columns["risk"], np.log(columns["volatility"]))[0, 1] > 0.5
    with pytest.raises(ValueError, match="depends on 'risk', which is neither quality nor among the attributes"):
        draw_attributes(rng, specs[1:], np.zeros(3, dtype=np.int64), 1, quality[:3])


def test_news_freshness_decays_with_age_and_session_time():
    world, s, _ = world_and_sessions("news")
    items = np.argsort(world.catalog.attributes["age"])[[0, -1]]  # the freshest and the oldest story
    fresh, old = world.domain_terms(s, np.tile(items, (len(s.steps), 1))).T
    assert np.all(fresh > old + 1.0)
    s.time_spent[:] = 180.0  # one half-life later
    np.testing.assert_allclose(world.domain_terms(s, np.tile(items, (len(s.steps), 1)))[:, 0], fresh / 2)


def test_news_bursts_raise_a_topic_for_a_while():
    world, s, rng = world_and_sessions("news", num_sessions=2000, burst_rate=0.5)
    world.step(rng, s, np.tile(np.arange(3), (2000, 1)))
    bursting = s.burst.max(axis=1) > 0
    assert 0.4 < bursting.mean() < 0.6
    before = s.burst.copy()
    world.step(rng, s, np.tile(np.arange(3), (2000, 1)))
    decayed = before * world.config.burst_decay
    new = s.burst > decayed + 1e-9
    assert new.sum(axis=1).max() == 1 and 0.4 < new.any(axis=1).mean() < 0.6
    np.testing.assert_allclose(s.burst[~new], decayed[~new])  # every other burst decays


def test_game_skill_grows_with_play_and_is_observed():
    env = gym.make("recsim_meta/Game-v0", churn_rate=0.0)
    obs, _ = env.reset(seed=0)
    column = env.unwrapped.user_feature_names.index("skill")
    start = obs["user_features"][column]
    assert start == pytest.approx(env.unwrapped.sessions.users.traits["skill"][0], rel=1e-6)
    for _ in range(30):
        obs, _, terminated, truncated, _ = env.step(env.unwrapped.oracle_slate())
        if terminated or truncated:
            break
    assert obs["user_features"][column] > start


def test_game_churn_shortens_sessions():
    churning = run_episodes(gym.make("recsim_meta/Game-v0"), RandomPolicy(gym.make("recsim_meta/Game-v0"), 0), 40)
    no_churn_env = gym.make("recsim_meta/Game-v0", churn_rate=0.0)
    loyal = run_episodes(no_churn_env, RandomPolicy(no_churn_env, 0), 40)
    assert churning.lengths.mean() < 0.7 * loyal.lengths.mean()


def test_social_signal_follows_its_formula():
    rng = np.random.default_rng(0)
    spec = SocialSpec(members=30, degree=4, engaged_per_member=3)
    vectors = rng.standard_normal((50, 4))
    authors = rng.integers(0, 30, 50)
    social = make_social_graph(rng, spec, vectors, authors, np.zeros(4), 1.0)
    assert nx.is_connected(social.graph) and social.engaged.sum(axis=1).tolist() == [3] * 30
    for member in (0, 7):
        friends = list(social.graph.neighbors(member))
        expected = np.log1p(social.engaged[friends].sum(axis=0)) + np.isin(authors, friends)
        np.testing.assert_allclose(social.signal[member], expected, rtol=1e-6)


def test_social_graph_is_part_of_the_task_and_preferential_graphs_work():
    env = gym.make("recsim_meta/Social-v0").unwrapped
    env.reset(seed=0, options={"task": Task(domain="social", cohort_seed=1)})
    first = env.world.social.graph
    env.reset(seed=0, options={"task": Task(domain="social", cohort_seed=2)})
    assert set(first.edges) != set(env.world.social.graph.edges)
    spec = SocialSpec(members=300, kind="preferential", degree=6)
    env = gym.make("recsim_meta/Social-v0", social=spec)
    env.reset(seed=0)
    degrees = [d for _, d in env.unwrapped.world.social.graph.degree]
    assert max(degrees) > 4 * np.median(degrees)  # hubs


def test_finance_counts_and_penalises_unsuitable_products():
    env = gym.make("recsim_meta/Finance-v0", no_click_utility=50.0)  # nobody invests: the reward is the penalty
    env.reset(seed=0)
    world, s = env.unwrapped.world, env.unwrapped.sessions
    for _ in range(10):
        slate = np.arange(3)
        expected = int(world.unsuitable(s, s.candidates[:, slate]).sum())
        _, reward, _, _, info = env.step(slate)
        assert info["unsuitable"] == expected
        assert reward == pytest.approx(-2.0 * expected)


@pytest.mark.parametrize(
    "domain, overrides, problem",
    [
        ("game", {"observed_traits": ("patience",)}, r"observed_traits \['patience'\] are not traits"),
        ("finance", {"suitability": SuitabilityRule("price", "risk_tolerance", 0.1, 1.0)}, "suitability compares"),
        ("social", {"social": SocialSpec(members=100)}, "'author' entity count .* must equal social.members"),
        ("news", {"burst_rate": 1.5}, r"burst_rate must be in \[0, 1\]"),
        ("game", {"churn_rate": -0.1}, r"churn_rate must be in \[0, 1\]"),
    ],
)
def test_bad_domain_settings_name_the_problem(domain, overrides, problem):
    with pytest.raises(ValueError, match=problem):
        make_config(domain, **overrides)


def test_bad_mechanism_specs_name_the_problem():
    with pytest.raises(ValueError, match=r"scale must be in \(0, "):
        UtilityTerm("age", "freshness", weight=1.0, scale=0.0)
    with pytest.raises(ValueError, match="unknown social graph kind 'random'"):
        SocialSpec(kind="random")
    with pytest.raises(ValueError, match="social degree"):
        SocialSpec(members=10, degree=10)
    with pytest.raises(ValueError, match=r"penalty must be in \[0, "):
        SuitabilityRule("risk", "risk_tolerance", 0.1, -1.0)
    with pytest.raises(ValueError, match="slope needs a base"):
        AttributeSpec("x", "normal", 0.0, 1.0, slope=1.0)
    assert dataclasses.replace(TraitSpec("skill", 0.0, 1.0), growth=0.1).growth == 0.1
