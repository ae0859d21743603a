"""The compiled PCG64 draws are numpy's, bit for bit, and advance the generator's own state."""

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsim_meta.sim.pcg64 import choice_distinct, generator_state, random_double, random_interval, random_raw


def twins(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    return np.random.default_rng(seed), np.random.default_rng(seed)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**63), st.booleans())
def test_raw_outputs_and_doubles_are_numpys(seed, spare_kept):
    compiled, numpy_rng = twins(seed)
    if spare_kept:  # a 32-bit draw keeps the other half of its 64-bit output
        compiled.integers(0, 7), numpy_rng.integers(0, 7)
    state, _ = generator_state(compiled)
    assert [random_raw(state) for _ in range(20)] == list(numpy_rng.bit_generator.random_raw(20))
    assert [random_double(state) for _ in range(20)] == list(numpy_rng.random(20))
    assert compiled.bit_generator.state == numpy_rng.bit_generator.state


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**63), st.sampled_from([0, 1, 2, 3, 6, 99, 499, 2**31, 2**32 - 2, 2**32 - 1]))
def test_bounded_integers_are_numpys(seed, high):
    compiled, numpy_rng = twins(seed)
    state, spare = generator_state(compiled)
    assert [random_interval(state, spare, high) for _ in range(25)] == list(numpy_rng.integers(0, high + 1, 25))
    assert compiled.integers(0, 1000) == numpy_rng.integers(0, 1000)  # numpy goes on from the same state


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 2**63),
    st.one_of(st.integers(1, 600), st.integers(10_001, 30_000)),  # Floyd's algorithm; the tail shuffle too
    st.floats(0, 1),
)
def test_choice_without_replacement_is_numpys(seed, n, fraction):
    size = int(fraction * n)
    compiled, numpy_rng = twins(seed)
    state, spare = generator_state(compiled)
    np.testing.assert_array_equal(choice_distinct(state, spare, n, size), numpy_rng.choice(n, size, replace=False))
    assert compiled.bit_generator.state == numpy_rng.bit_generator.state


def test_views_follow_each_generator_and_its_copies():
    rng = np.random.default_rng(3)
    twin = copy.deepcopy(rng)
    random_double(generator_state(rng)[0])
    assert rng.bit_generator.state != twin.bit_generator.state  # the copy has its own state
    random_double(generator_state(twin)[0])
    assert rng.bit_generator.state == twin.bit_generator.state


def test_other_bit_generators_are_refused_by_name():
    with pytest.raises(TypeError, match="PCG64.*MT19937"):
        generator_state(np.random.Generator(np.random.MT19937(0)))
