"""How many threads a process computes with: torch's (the models) and numba's (the compiled loops of large
batches), set together.

One thread per process is the default of every command: beside other work, a process that starts a thread per
core competes with it for the cores and waits on the slowest thread at every parallel step
(``experiments/threads_beside_work.py`` measures what that costs). The thread count also changes the order of
floating-point sums, so a run reproduces exactly only with the same count.
"""

from __future__ import annotations

from recsim_meta.sim.validation import Range, check_integer

DEFAULT_THREADS = 1


def set_threads(threads: int) -> int:
    """Use ``threads`` threads in torch and in numba's loops (numba: at most the threads it started with)."""
    import numba
    import torch

    threads = check_integer("threads", threads, Range(1, 1024))
    torch.set_num_threads(threads)
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    return threads
