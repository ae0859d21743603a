"""User population, latent state and its dynamics, batched over ``B`` users.

A user has latent interests ``u ~ N(mu_cohort, sigma_u^2 I)``, traits (price sensitivity, ...), and a
state that evolves: interests drift and are pulled toward consumed items, per-topic fatigue builds
with consumption and decays, satisfaction follows the received utility (quality, and affinity) of
what was consumed, traits may grow with use (skill), and the time budget falls with time spent and
rises with satisfaction. The session ends when the budget is spent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsim_meta.sim.validation import Range, check_number, check_value, shown

UNIFORM_TO_UNIT_STD = np.sqrt(12.0)  # U(0, 1) - 0.5 has std 1 / sqrt(12)


@dataclass(frozen=True)
class TraitSpec:
    """A user trait drawn as ``clip(N(mean + shift * std, std), low, high)``.

    ``growth`` makes it change with use: each consumption adds ``growth * engagement`` (a player's
    skill grows with play), still clipped to ``[low, high]``.
    """

    name: str
    mean: float
    std: float
    low: float = -np.inf
    high: float = np.inf
    growth: float = 0.0

    def __post_init__(self) -> None:
        prefix = f"trait {self.name!r}: " if isinstance(self.name, str) else "trait: "
        check_value(prefix + "name", self.name, "str", {}, None)
        for name, bounds in (("mean", Range(-1e6, 1e6)), ("std", Range(0, 1e6)), ("growth", Range(-10, 10))):
            object.__setattr__(self, name, check_number(prefix + name, getattr(self, name), bounds))
        for name in ("low", "high"):  # infinite: unbounded
            value = getattr(self, name)
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise ValueError(f"{prefix}{name} must be a number (or an infinity), got {shown(value)}")
            if np.isnan(value):
                raise ValueError(f"{prefix}{name} must not be NaN")
            object.__setattr__(self, name, float(value))
        if self.low > self.high:
            raise ValueError(f"{prefix}need low <= high, got {self.low} and {self.high}")


@dataclass(frozen=True)
class UserDynamics:
    """Rates of the state dynamics (per step).

    Attributes:
        drift: per-step std of the random walk of interests (uniform increments: five times cheaper
            to draw than Gaussian ones, and the walk is Gaussian over many steps all the same).
        pull: how far interests move toward a consumed item's vector, scaled by engagement.
        reversion: pull of interests back to the cohort mean.
        fatigue_rate: fatigue added to a topic when one of its items is consumed.
        fatigue_decay: multiplicative decay of fatigue per step.
        satisfaction_rate: weight of the latest item's received utility in the satisfaction average.
        budget_refund: budget returned per unit of time spent, per unit of satisfaction.
        no_click_cost: budget spent by a step without a click.
        traits: the trait specs, for those that grow with consumption.
    """

    drift: float
    pull: float
    reversion: float
    fatigue_rate: float
    fatigue_decay: float
    satisfaction_rate: float
    budget_refund: float
    no_click_cost: float
    traits: tuple[TraitSpec, ...] = ()


@dataclass
class UserState:
    """Latent state of ``B`` users; the first axis of every array is the user."""

    interest: np.ndarray  # (B, d)
    fatigue: np.ndarray  # (B, T)
    satisfaction: np.ndarray  # (B,)
    budget: np.ndarray  # (B,) remaining time budget
    traits: dict[str, np.ndarray]  # name -> (B,)


def cohort_interest_mean(centroids: np.ndarray, favourite_topics: np.ndarray, scale: float) -> np.ndarray:
    """Mean interest of a cohort: ``scale`` times the mean centroid of its favourite topics."""
    return scale * centroids[favourite_topics].mean(axis=0)


INTEREST_DISTRIBUTIONS = ("normal", "uniform")


def sample_users(
    rng: np.random.Generator,
    num_users: int,
    *,
    interest_mean: np.ndarray,
    interest_std: float,
    num_topics: int,
    time_budget: float,
    traits: tuple[TraitSpec, ...],
    trait_shift: float = 0.0,
    interest_distribution: str = "normal",
) -> UserState:
    """Draw ``num_users`` fresh users of one cohort: interests ``interest_mean + interest_std * N(0, I)``
    (``normal``) or ``interest_mean + U(-interest_std, interest_std)`` per dimension (``uniform``, RecSim's
    interest-evolution users with a mean of 0 and a spread of 1)."""
    shape = (num_users, len(interest_mean))
    if interest_distribution == "uniform":
        interest = interest_mean + rng.uniform(-interest_std, interest_std, shape)
    else:
        interest = interest_mean + interest_std * rng.standard_normal(shape)
    values = {
        spec.name: np.clip(rng.normal(spec.mean + trait_shift * spec.std, spec.std, num_users), spec.low, spec.high)
        for spec in traits
    }
    return UserState(
        interest=interest,
        fatigue=np.zeros((num_users, num_topics)),
        satisfaction=np.zeros(num_users),
        budget=np.full(num_users, float(time_budget)),
        traits=values,
    )
