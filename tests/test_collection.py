"""Batched collection: many users of many tasks in one forward pass per step give what one user at a time gives,
and the rollout says whose every step is."""

import numpy as np
import pytest
import torch
from tiny_configs import TINY

from recsim_meta.agents.bert_recommender import PAD
from recsim_meta.agents.collection import Collector, TaskRun
from recsim_meta.agents.losses import discounted_advantages
from recsim_meta.agents.meta_rl import MetaRLAgent
from recsim_meta.agents.meta_training import MetaConfig
from recsim_meta.agents.recommender_policy import RecommenderPolicy
from recsim_meta.agents.rollouts import TaskMemory, TaskState
from recsim_meta.envs import RecEnv
from recsim_meta.envs.multi_domain import SHARED_SIZES


@pytest.fixture(scope="module")
def agent() -> MetaRLAgent:
    torch.manual_seed(0)
    env = MetaConfig(**TINY).make_env()
    sizes = ("hidden_size", "num_layers", "num_heads", "intermediate_size", "context_length")
    policy = RecommenderPolicy.for_env(env, seed=0, **{k: TINY[k] for k in sizes})
    return MetaRLAgent(policy.model, env, seed=0, device="cpu")


def one_user_at_a_time(agent: MetaRLAgent, task, seed: int) -> tuple[list, float]:
    """The greedy actions and the return of one episode of one user of ``task`` (seeded ``seed``), acting on one
    observation at a time in the task's single env."""
    layout = agent.env.unwrapped
    env = RecEnv(task.domain, **SHARED_SIZES)
    observation, _ = env.reset(seed=seed, options={"task": task})
    actions, total, done = [], 0.0, False
    state = agent.new_state()
    while not done:
        padded = layout.padded({k: v[None] for k, v in observation.items()}, task.domain)
        acted = agent.act_batch(padded, [task.domain], [state], np.zeros(1, dtype=np.int64), deterministic=True)
        action = acted.slate[0].numpy()
        actions.append(action.tolist())
        observation, reward, terminated, truncated, _ = env.step(action)
        total += reward
        done = terminated or truncated
    return actions, total


def test_batched_users_of_many_tasks_act_and_earn_as_one_user_at_a_time(agent):
    tasks = list(agent.env.unwrapped.tasks[:4])
    seeds = [11, 12, 13, 14]
    rollout = agent.collect(tasks, seeds=seeds, deterministic=True, remember=False)
    for slot, (task, seed) in enumerate(zip(tasks, seeds, strict=True)):
        rows = np.flatnonzero(rollout.slot == slot)
        actions, total = one_user_at_a_time(agent, task, seed)
        assert rollout.slate[rows].tolist() == actions
        assert rollout.reward[rows].sum() == pytest.approx(total)
        assert rollout.episode_end[rows][-1] and not rollout.episode_end[rows][:-1].any()


def test_a_rollout_says_whose_every_step_is_and_users_play_their_episodes_in_turn(agent):
    tasks = list(agent.env.unwrapped.tasks[:2])
    rollout = agent.collect(tasks, users=3, episodes=2, seeds=[0, 1])
    for slot in range(2):
        mine = rollout.slot == slot
        assert set(rollout.user[mine]) == {0, 1, 2}
        assert set(rollout.episode[mine]) == {0, 1, 2, 3, 4, 5}  # user u's episodes are 2u and 2u + 1
        for user in range(3):
            ends = rollout.episode_end[mine & (rollout.user == user)]
            assert ends.sum() == 2 and ends[-1]
    assert len(rollout.returns_per_episode()) == 12


def test_finished_episodes_fill_their_tasks_memory(agent):
    tasks = list(agent.env.unwrapped.tasks[:2])
    states = [agent.new_state() for _ in tasks]
    agent.collect(tasks, states, users=2, seeds=[0, 1], remember=True)
    assert all((state.memory.tokens != PAD).any() for state in states)
    fresh = [agent.new_state() for _ in tasks]
    agent.collect(tasks, fresh, users=2, seeds=[0, 1], remember=False)
    assert all((state.memory.tokens == PAD).all() for state in fresh)


class RecordingActor:
    """The agent, with every ``remember`` call recorded."""

    def __init__(self, agent: MetaRLAgent) -> None:
        self.agent, self.remembered = agent, []

    def act_batch(self, *args):
        return self.agent.act_batch(*args)

    def remember(self, state, item_ids, responses, domain):
        self.remembered.append((item_ids, responses))
        self.agent.remember(state, item_ids, responses, domain)


def test_memory_receives_each_finished_episode_step_by_step(agent):
    """Each episode goes to its task's memory whole and in time order: at every step the slate's consumed item (its
    first item without a click) and the step's responses, as the rollout records them."""
    task = agent.env.unwrapped.tasks[0]
    actor = RecordingActor(agent)
    rollout = Collector(agent.env).collect(actor, [TaskRun(task, users=2, episodes=2, seed=3)], [agent.new_state()])
    assert len(actor.remembered) == 4
    episodes = {}
    for episode in np.unique(rollout.episode):
        rows = np.flatnonzero(rollout.episode == episode)
        tokens = rollout.consumed_tokens()[rows]
        clicked = (rollout.position[rows] >= 0).astype(np.float32)
        episodes[tuple(tokens)] = np.stack([clicked, rollout.reward[rows], rollout.engagement[rows]], axis=1)
    for item_ids, responses in actor.remembered:
        tokens = tuple(agent.encoder.item_tokens(item_ids, task.domain))
        np.testing.assert_allclose(responses, episodes.pop(tokens), rtol=1e-6)
    assert not episodes


@pytest.mark.parametrize("kind", TaskMemory.KINDS)
def test_the_memory_holds_only_items_its_tasks_users_consumed(agent, kind):
    """``recent``: the newest interactions, clicked or not; ``clicks``: items clicked in some episode."""
    task = agent.env.unwrapped.tasks[1]
    state = TaskState(TaskMemory(agent.model.config.context_length, kind))
    rollout = agent.collect([task], [state], users=2, episodes=2, seeds=[5])
    consumed = rollout.consumed_tokens()
    held = state.memory.tokens[state.memory.tokens != PAD]
    assert len(held)
    assert np.isin(held, consumed[rollout.position >= 0] if kind == "clicks" else consumed).all()


def test_the_collectors_envs_share_their_tasks_world_and_it_checks_its_states(agent):
    collector = Collector(agent.env)
    task = agent.env.unwrapped.tasks[0]
    assert collector.vector_env(task, 3).world is collector.vector_env(task, 5).world
    with pytest.raises(ValueError, match="one task state per run"):
        collector.collect(agent, [TaskRun(task)], [])


def test_a_task_drawn_twice_in_one_collection_gets_two_independent_runs(agent):
    """Meta-training draws tasks with replacement: two runs of one task with the same users and seed collect
    the same episodes as one run alone (each run steps its own env)."""
    task = agent.env.unwrapped.tasks[0]
    alone = agent.collect([task], users=2, seeds=[7], deterministic=True, remember=False)
    twice = agent.collect([task, task], users=2, seeds=[7, 7], deterministic=True, remember=False)
    for slot in (0, 1):
        mine = twice.slot == slot
        assert np.array_equal(twice.reward[mine], alone.reward)
        assert torch.equal(twice.slate[torch.as_tensor(mine)], alone.slate)


def test_advantages_follow_each_session_when_users_interleave(agent):
    """GAE runs over each whole session: the steps of users stepped together interleave in the rollout, and each
    session's advantages are what it alone would give."""
    task = agent.env.unwrapped.tasks[0]
    together = agent.collect([task], users=3, seeds=[4], remember=False)
    scale = np.ones(1)
    advantage, _ = discounted_advantages(together, scale, 0.99, 0.95)
    for episode in np.unique(together.episode):
        rows = np.flatnonzero(together.episode == episode)
        alone, _ = discounted_advantages(together.select(rows), scale, 0.99, 0.95)
        np.testing.assert_allclose(advantage[rows], alone)
    assert len(np.unique(together.user[:3])) == 3  # the first steps are the three users' first steps


def test_meta_step_learns_from_the_subsample_it_is_given(agent):
    tasks = list(agent.env.unwrapped.tasks[:2])
    optimizer = torch.optim.Adam(agent.parameters(), lr=1e-3)
    record = agent.meta_step(tasks, 1, 2, [0, 1], optimizer, epochs=1, update_fraction=0.3)
    assert np.isfinite(list(record.values())).all()
    for fraction in (0.0, 1.5):
        with pytest.raises(ValueError, match="update_fraction must be in"):
            agent.meta_step(tasks, 1, 1, [0, 1], optimizer, epochs=1, update_fraction=fraction)
