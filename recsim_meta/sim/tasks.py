"""Meta-RL tasks: a domain plus a user cohort, seeded sampling and fixed splits."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from recsim_meta.sim.validation import NON_NEGATIVE, Range, check_fields, check_integer

MAX_COHORTS = 10_000
"""The most cohorts per domain in a split."""
MAX_VARIANTS = 1_000
"""The most procedural variants per seen domain."""


TASK_RANGES = {
    "cohort": NON_NEGATIVE,
    "catalogue_seed": NON_NEGATIVE,  # numpy's seeds are non-negative integers
    "cohort_seed": NON_NEGATIVE,
    "interest_scale": Range(0, 100),
    "trait_shift": Range(-10, 10),
    "kg_strength": Range(0, 10),
    "variant": NON_NEGATIVE,
}
"""The accepted range of every numeric ``Task`` field (``recsim_meta.sim.validation``)."""


@dataclass(frozen=True)
class Task:
    """One environment task: a domain and a cohort of users.

    A task is set with ``env.reset(options={"task": task})`` and stays until another is set. The
    catalogue and KG depend only on ``(domain, catalogue_seed)``; the cohort on the rest.

    Attributes:
        domain: domain name, e.g. ``"ecommerce"``.
        cohort: cohort index (a label; tasks with equal fields are equal).
        catalogue_seed: seed of the item catalogue and knowledge graph.
        cohort_seed: seed of the cohort's interest prior (its favourite topics).
        interest_scale: norm of the cohort's mean interest (how focused the cohort is).
        trait_shift: shift of every trait mean, in trait standard deviations.
        kg_strength: KG fusion strength ``alpha``; ``None`` keeps the domain's default.
        variant: 0 for the domain as defined; another value runs a procedural variant of it, with the same
            catalogue and KG but other user behaviour (see ``domain_variant``).
    """

    domain: str
    cohort: int = 0
    catalogue_seed: int = 0
    cohort_seed: int = 0
    interest_scale: float = 1.0
    trait_shift: float = 0.0
    kg_strength: float | None = None
    variant: int = 0

    def __post_init__(self) -> None:
        check_fields(self, TASK_RANGES, "Task.")


def sample_tasks(domain: str, num_cohorts: int, seed: int, catalogue_seed: int = 0) -> list[Task]:
    """Draw ``num_cohorts`` cohorts of one domain; the same arguments give the same tasks.

    Cohorts differ in their favourite topics (``cohort_seed``), focus and traits; the KG strength
    stays the domain's default.
    """
    rng = np.random.default_rng([seed, sum(domain.encode())])
    return [
        Task(
            domain=domain,
            cohort=i,
            catalogue_seed=catalogue_seed,
            cohort_seed=int(rng.integers(2**31)),
            interest_scale=float(rng.uniform(0.7, 1.5)),
            trait_shift=float(rng.uniform(-1.0, 1.0)),
        )
        for i in range(num_cohorts)
    ]


@dataclass(frozen=True)
class TaskSplits:
    """Fixed task splits for meta-RL.

    Attributes:
        train: meta-training tasks (seen domains, training cohorts, then any procedural variants).
        validation: meta-validation tasks (seen domains, other cohorts).
        test_cohorts: held-out cohorts of the seen domains (test regime 1).
        test_domain: all cohorts of the held-out domain (test regime 2, leave-one-domain-out).
        held_out_domain: the domain left out of training.
    """

    train: tuple[Task, ...]
    validation: tuple[Task, ...]
    test_cohorts: tuple[Task, ...]
    test_domain: tuple[Task, ...]
    held_out_domain: str | None = None


def make_splits(
    domains: tuple[str, ...] | list[str],
    *,
    held_out_domain: str | None = None,
    num_cohorts: int = 10,
    num_validation: int = 2,
    num_test: int = 2,
    num_variants: int = 0,
    seed: int = 0,
) -> TaskSplits:
    """Split ``num_cohorts`` cohorts per seen domain into train / validation / test; the held-out domain is all test.

    ``num_variants`` adds that many training tasks per seen domain, each a procedural variant of the domain
    (``Task.variant`` 1, 2, ...) run by its training cohorts in turn: new domains on known items, so that
    meta-training also sees a shift of the domain itself, not only of the cohort.

    Raises:
        ValueError: when the held-out domain is not among ``domains`` or the counts do not fit.
    """
    if held_out_domain is not None and held_out_domain not in domains:
        raise ValueError(f"held_out_domain {held_out_domain!r} is not one of the domains: {', '.join(domains)}")
    num_cohorts = check_integer("num_cohorts", num_cohorts, Range(1, MAX_COHORTS))
    num_validation = check_integer("num_validation", num_validation, NON_NEGATIVE)
    num_test = check_integer("num_test", num_test, NON_NEGATIVE)
    num_variants = check_integer("num_variants", num_variants, Range(0, MAX_VARIANTS))
    seed = check_integer("task_seed", seed, NON_NEGATIVE)
    if num_validation < 0 or num_test < 0 or num_validation + num_test >= num_cohorts:
        raise ValueError(
            f"need 0 <= num_validation + num_test < num_cohorts, got {num_validation} + {num_test} and {num_cohorts}"
        )
    train: list[Task] = []
    validation: list[Task] = []
    test: list[Task] = []
    held_out: list[Task] = []
    for domain in domains:
        tasks = sample_tasks(domain, num_cohorts, seed)
        if domain == held_out_domain:
            held_out.extend(tasks)
            continue
        cut = num_cohorts - num_validation - num_test
        train.extend(tasks[:cut])
        train.extend(replace(tasks[v % cut], variant=v + 1) for v in range(num_variants))
        validation.extend(tasks[cut : cut + num_validation])
        test.extend(tasks[cut + num_validation :])
    return TaskSplits(tuple(train), tuple(validation), tuple(test), tuple(held_out), held_out_domain)
