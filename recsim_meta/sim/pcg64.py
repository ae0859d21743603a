"""numpy's ``PCG64`` draws in compiled code, made on the state of the caller's own ``np.random.Generator``.

``generator_state(rng)`` gives arrays that view the generator's state in place; the compiled functions here
advance it as numpy's C code does, so ``random_double``, ``random_interval`` and ``choice_distinct`` return,
bit for bit, what ``rng.random()``, ``rng.integers(0, high + 1)`` and ``rng.choice(n, m, replace=False)``
would, and numpy calls before and after them see the state they left. A step can then draw inside one
compiled loop instead of calling numpy (a few microseconds per call) for each handful of numbers.

``state`` is ``(2, 2)`` uint64: ``[[state_low, state_high], [increment_low, increment_high]]`` of the 128-bit
LCG; ``spare`` is ``(2,)`` uint32: whether a 32-bit half of the last 64-bit output is kept, and that half.
Like numpy's ``Generator`` methods, these functions must not run on one generator from two threads at once.
"""

from __future__ import annotations

import ctypes
import functools

import numpy as np
from numba import njit

_MULTIPLIER_HIGH = np.uint64(2549297995355413924)  # PCG's default 128-bit multiplier, numpy's PCG64
_MULTIPLIER_LOW = np.uint64(4865540595714422341)
_LOW_32 = np.uint64(0xFFFFFFFF)
_ONE, _32, _58, _63, _64 = np.uint64(1), np.uint64(32), np.uint64(58), np.uint64(63), np.uint64(64)
_TAIL_SHUFFLE_FROM = 10_000  # numpy's ``choice`` shuffles the tail of ``arange(n)`` for larger n (and samples)


def generator_state(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``(state, spare)`` viewing ``rng``'s PCG64 state in place (see the module's docstring).

    Raises:
        TypeError: ``rng`` does not use ``PCG64`` (Gymnasium's and ``np.random.default_rng``'s bit generator).
    """
    if type(rng.bit_generator) is not np.random.PCG64:
        raise TypeError(
            f"the simulator draws with numpy's PCG64, the bit generator of Gymnasium's np_random and of "
            f"np.random.default_rng; got a Generator of {type(rng.bit_generator).__name__}"
        )
    return _views(rng.bit_generator)


@functools.lru_cache(maxsize=256)  # holds the generators it views, so an id is never reused while cached
def _views(bit_generator: np.random.PCG64) -> tuple[np.ndarray, np.ndarray]:
    """numpy's ``pcg64_state`` is ``{pcg64_random_t *pcg_state; int has_uint32; uint32_t uinteger}``; the LCG's
    state and increment are two 128-bit integers, native (low word first) or ``{high, low}`` words."""
    address = bit_generator.ctypes.state_address
    words = np.ctypeslib.as_array((ctypes.c_uint64 * 4).from_address(ctypes.c_void_p.from_address(address).value))
    spare = np.ctypeslib.as_array((ctypes.c_uint32 * 2).from_address(address + ctypes.sizeof(ctypes.c_void_p)))
    expected = bit_generator.state
    for state in (words.reshape(2, 2), np.lib.stride_tricks.as_strided(words[1:], (2, 2), (16, -8))):
        low_first = [int(state[0, 0]) | int(state[0, 1]) << 64, int(state[1, 0]) | int(state[1, 1]) << 64]
        if low_first == [expected["state"]["state"], expected["state"]["inc"]]:
            if [int(spare[0]), int(spare[1])] != [expected["has_uint32"], expected["uinteger"]]:
                break
            return state, spare
    raise RuntimeError(f"numpy {np.__version__}'s PCG64 state has a layout recsim_meta does not know")


@njit(cache=True, nogil=True)
def _high_product(a: np.uint64, b: np.uint64) -> np.uint64:
    """The high 64 bits of the 128-bit product ``a * b``."""
    a_low, a_high, b_low, b_high = a & _LOW_32, a >> _32, b & _LOW_32, b >> _32
    low_low, high_low = a_low * b_low, a_high * b_low
    middle = (low_low >> _32) + (high_low & _LOW_32) + a_low * b_high
    return a_high * b_high + (high_low >> _32) + (middle >> _32)


@njit(cache=True, nogil=True)
def random_raw(state: np.ndarray) -> np.uint64:
    """The next 64-bit output (``rng.bit_generator.random_raw()``): the LCG steps, then XSL-RR."""
    low, high = state[0, 0], state[0, 1]
    next_low = low * _MULTIPLIER_LOW
    next_high = _high_product(low, _MULTIPLIER_LOW) + low * _MULTIPLIER_HIGH + high * _MULTIPLIER_LOW
    low = next_low + state[1, 0]
    high = next_high + state[1, 1] + (_ONE if low < next_low else np.uint64(0))
    state[0, 0], state[0, 1] = low, high
    folded, rotation = high ^ low, high >> _58
    return (folded >> rotation) | (folded << ((_64 - rotation) & _63))


@njit(cache=True, nogil=True)
def random_double(state: np.ndarray) -> float:
    """A uniform double in [0, 1) (``rng.random()``): the top 53 bits of a 64-bit output."""
    return np.float64(random_raw(state) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, nogil=True)
def _random_uint32(state: np.ndarray, spare: np.ndarray) -> np.uint64:
    """32 random bits: the kept high half of the last output if there is one, else the low half of a new one."""
    if spare[0]:
        spare[0] = 0
        return np.uint64(spare[1])
    bits = random_raw(state)
    spare[0], spare[1] = 1, np.uint32(bits >> _32)
    return bits & _LOW_32


@njit(cache=True, nogil=True)
def random_interval(state: np.ndarray, spare: np.ndarray, high: int) -> int:
    """A uniform integer in ``[0, high]``, ``high < 2**32`` (``rng.integers(0, high + 1)``): Lemire's
    multiply-and-reject on 32 random bits."""
    if high == 0:
        return 0
    if high == 0xFFFFFFFF:
        return np.int64(_random_uint32(state, spare))
    size = np.uint64(high) + _ONE
    product = _random_uint32(state, spare) * size
    if product & _LOW_32 < size:
        threshold = (_LOW_32 - np.uint64(high)) % size
        while product & _LOW_32 < threshold:
            product = _random_uint32(state, spare) * size
    return np.int64(product >> _32)


@njit(cache=True, nogil=True)
def choice_distinct(state: np.ndarray, spare: np.ndarray, n: int, size: int) -> np.ndarray:
    """``size`` distinct integers of ``[0, n)`` in random order (``rng.choice(n, size, replace=False)``,
    ``n < 2**32``): numpy's tail shuffle of ``arange(n)`` for ``n > 10000`` and ``size > n // 50``, else
    Floyd's algorithm with an open-addressing set, then a shuffle."""
    if n > _TAIL_SHUFFLE_FROM and size > n // 50:
        values = np.arange(n)
        _shuffle(state, spare, values, max(n - size, 1))
        return values[n - size :].copy()
    mask = np.uint64(np.int64(1.2 * size))
    for shift in (1, 2, 4, 8, 16, 32):
        mask |= mask >> np.uint64(shift)
    empty = np.int64(-1)
    table = np.full(np.int64(mask) + 1, empty)
    values = np.empty(size, dtype=np.int64)
    for upper in range(n - size, n):
        value = random_interval(state, spare, upper)
        slot = np.uint64(value) & mask
        while table[slot] != empty and table[slot] != value:
            slot = (slot + _ONE) & mask
        if table[slot] == empty:  # a new value
            table[slot] = value
        else:  # drawn before: take ``upper``, which cannot have been
            value = upper
            slot = np.uint64(value) & mask
            while table[slot] != empty:
                slot = (slot + _ONE) & mask
            table[slot] = value
        values[upper - n + size] = value
    _shuffle(state, spare, values, 1)
    return values


@njit(cache=True, nogil=True)
def _shuffle(state: np.ndarray, spare: np.ndarray, values: np.ndarray, first: int) -> None:
    """numpy's Fisher-Yates: swaps ``values[i]`` with a uniform ``values[j]``, ``j <= i``, for ``i`` from the
    last down to ``first``."""
    for index in range(len(values) - 1, first - 1, -1):
        other = random_interval(state, spare, index)
        values[index], values[other] = values[other], values[index]
