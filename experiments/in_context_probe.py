"""Why in-context adaptation adds nothing: what the task memory holds and how far it moves the agent's slates.

For each seed's meta-trained agent (``--out``/seed_<s>, as ``experiments/meta_quality.py`` leaves them) and each
task of the meta-test (held-out cohorts, left-out domain): ``--episodes`` adaptation episodes fill the task's memory
(played in turn by users from the meta-test's adaptation seeds); ``--users`` evaluation users then play greedily with an empty memory,
and on their observations the agent's first-slot distribution over the candidates with the task's own memory is
compared with the one under an empty memory and under the memory of another task of the same regime (the next
one). Prints, per regime and step of the session: the mean KL divergence from the own-memory distribution and the
share of steps whose greedy slate changes; and what the memory holds: its size against the adaptation episodes'
mean length, and the share of its items that the last episode consumed (its clicked items, or the slate's first
without a click).

    python experiments/in_context_probe.py --seeds 0 1 2 3 4 --out runs/meta_test60   # about 2 minutes
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from recsim_meta.agents.bert_recommender import PAD
from recsim_meta.agents.meta_training import MetaConfig, meta_train
from recsim_meta.agents.rollouts import TaskMemory, take_rows
from recsim_meta.evaluation.adaptation import TEST_REGIMES, regime_tasks, task_seeds
from recsim_meta.threads import set_threads

STEPS = {"first step": (0, 0), "steps 2-5": (1, 4), "steps 6+": (5, 10**9)}


def first_slot(agent, batch, memory: TaskMemory) -> torch.Tensor:
    """Log-probabilities of the first slot over the candidates for ``batch`` with ``memory`` for every row."""
    rows = len(batch.history_tokens)
    batch.context_tokens = torch.as_tensor(memory.tokens).expand(rows, -1)
    batch.context_responses = torch.as_tensor(memory.responses).expand(rows, -1, -1)
    output = agent.outputs(batch, agent.model.encode(batch), [None], np.zeros(rows, dtype=np.int64))
    return torch.log_softmax(output.logits, dim=1)


def probe(agent, config: MetaConfig, seed: int, episodes: int, users: int) -> tuple[list[dict], float, float, int]:
    """The comparison rows of every meta-test task, the adaptation episodes' mean length, the share of the memory's
    items that the last episode consumed and the memory's size."""
    tasks = regime_tasks(config, TEST_REGIMES)
    eval_seeds, adapt_seeds = task_seeds(seed, len(tasks))
    task_list = [task for _, task in tasks]
    states = [agent.new_state() for _ in tasks]
    adaptation = agent.collect(task_list, states, episodes=episodes, seeds=adapt_seeds, remember=True)
    fresh = [agent.new_state() for _ in tasks]
    evaluation = agent.collect(task_list, fresh, users=users, seeds=eval_seeds, deterministic=True, remember=False)
    empty = agent.new_state().memory
    rows = []
    with torch.no_grad(), agent.model.fixed_item_embeddings():
        for i, (regime, _) in enumerate(tasks):
            same_regime = [j for j, (r, _) in enumerate(tasks) if r == regime]
            other = same_regime[(same_regime.index(i) + 1) % len(same_regime)]
            batch = take_rows(evaluation.batch, torch.as_tensor(np.flatnonzero(evaluation.slot == i)))
            step = (batch.history_tokens != PAD).sum(dim=1).numpy()
            own = first_slot(agent, batch, states[i].memory)
            for compared, memory in (("empty memory", empty), ("another task's memory", states[other].memory)):
                theirs = first_slot(agent, batch, memory)
                kl = (own.exp() * (own - theirs)).sum(dim=1).numpy()
                changed = (own.argmax(dim=1) != theirs.argmax(dim=1)).numpy()
                for name, (low, high) in STEPS.items():
                    chosen = (step >= low) & (step <= high)
                    rows.append(
                        {
                            "regime": regime,
                            "compared": compared,
                            "step": name,
                            "kl": kl[chosen],
                            "changed": changed[chosen],
                        }
                    )
    lengths = [np.bincount(adaptation.episode[adaptation.slot == i]).astype(float) for i in range(len(tasks))]
    consumed = adaptation.consumed_tokens()
    from_last = []
    for i, state in enumerate(states):
        mine = adaptation.slot == i
        last = set(consumed[mine & (adaptation.episode == adaptation.episode[mine].max())].tolist())
        held = state.memory.tokens[state.memory.tokens != PAD]
        from_last.append(np.isin(held, list(last)).mean())
    return rows, float(np.mean(np.concatenate(lengths))), float(np.mean(from_last)), len(empty.tokens)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--out", type=Path, default=Path("runs/meta_test60"))
    parser.add_argument("--episodes", type=int, default=5, help="adaptation episodes (default 5)")
    parser.add_argument("--users", type=int, default=16, help="evaluation users per task (default 16)")
    args = parser.parse_args()
    set_threads(1)
    rows, lengths, from_last = [], [], []
    for seed in args.seeds:
        run = args.out / f"seed_{seed}"
        config = MetaConfig.from_yaml(run / "config.yaml")
        agent = meta_train(config, run, resume=True, progress=False, device="cpu")
        agent.generator.manual_seed(seed)
        seed_rows, length, last, memory_size = probe(agent, config, seed, args.episodes, args.users)
        rows += seed_rows
        lengths.append(length)
        from_last.append(last)
    print(
        f"The memory ({agent.settings.memory}) holds {memory_size} interactions; the {args.episodes} adaptation "
        f"episodes last {np.mean(lengths):.1f} steps on average, and {np.mean(from_last):.0%} of the items in the "
        f"memory after them are items the last episode consumed ({len(args.seeds)} seeds).\n"
    )
    print(
        "First-slot distribution with the task's own memory against another memory: mean KL divergence (nats) and "
        "the share of steps whose greedy first item changes, over the evaluation users' steps of all seeds:\n"
    )
    print("| regime | compared with | step of the session | steps | KL | greedy item changes |")
    print("|---|---|---|---:|---:|---:|")
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["regime"], row["compared"], row["step"]), []).append(row)
    for (regime, compared, step), group in groups.items():
        kl = np.concatenate([row["kl"] for row in group])
        changed = np.concatenate([row["changed"] for row in group])
        print(f"| {regime} | {compared} | {step} | {len(kl):,} | {kl.mean():.4f} | {changed.mean():.1%} |")


if __name__ == "__main__":
    main()
