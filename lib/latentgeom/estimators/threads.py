"""Threads of the curvature engine on the CPU: LAPACK on one thread, chunks of points side by
side in worker threads.

Measured on a 2-core machine: MKL's multithreaded eigh/eigvalsh on batches of small matrices is
no faster, often far slower, than single-threaded (the threads spin on each other), so each
LAPACK call of :func:`latentgeom.estimators.curvature.mapc` runs on one thread (:func:`lapack`)
and the cores are used by running chunks of points side by side in the threads of
:func:`worker_pool` (torch releases the GIL inside its ops). On CUDA both are no-ops.
"""
from __future__ import annotations

import contextlib
import os
from concurrent.futures import ThreadPoolExecutor

import torch

__all__ = ["cpu_workers", "lapack", "single_thread", "worker_pool"]

_POOLS: dict[tuple[int, int], ThreadPoolExecutor] = {}


def worker_pool(workers: int) -> ThreadPoolExecutor:
    """A thread pool kept for the process (starting threads and torch's per-thread set-up on
    every call cost more than small calls themselves); keyed by process id, since a forked
    child inherits the pool but not its threads."""
    key = (os.getpid(), workers)
    if key not in _POOLS:
        _POOLS[key] = ThreadPoolExecutor(workers, thread_name_prefix="latentgeom-mapc")
    return _POOLS[key]


def cpu_workers(device: torch.device) -> int:
    """Threads that run chunks side by side: torch's intra-op thread count on CPU (2 under the
    Makefile's OMP_NUM_THREADS=2), 1 on CUDA (one stream does the batching there)."""
    return max(1, torch.get_num_threads()) if device.type == "cpu" else 1


def lapack(device: torch.device):
    """One intra-op torch thread on CPU (a no-op on CUDA or when torch already uses one).

    Measured on a 2-core machine: MKL's multithreaded eigh/eigvalsh on batches of small matrices
    is no faster, often far slower, than single-threaded (the threads spin on each other), so
    each LAPACK call runs on one thread and :func:`mapc` uses the cores by running chunks of
    points side by side in worker threads instead (torch releases the GIL inside its ops).
    """
    if device.type != "cpu" or torch.get_num_threads() == 1:
        return contextlib.nullcontext()
    return single_thread()


@contextlib.contextmanager
def single_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)
