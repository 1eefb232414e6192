"""Worker processes for a page's missing work units: one model per core instead of one model on
all of them.

Why: the book's networks are small, and torch spreads one network's small convolutions over two
threads poorly. Measured on the book's 2-core CPU (README, "Speed"), two single-threaded
processes, each training its own network, do 1.07-1.38x the work of one process training them in
turn on two threads (most for the width-8 networks), and two curvature profiles side by side
1.08-1.23x. :func:`compute` therefore runs the units a page is missing (:mod:`latentgeom.units`)
in :func:`worker_count` processes, one thread each on a 2-core CPU; the page then reads every
result from the caches, in its own order, exactly as if it had computed it.

What changes is only where a unit runs: a unit's result is the one it has in one process, up to
the rounding of the summation order inside torch's multithreaded kernels (training on one
thread does not give the bits of training on two, as training on another machine does not).
Caches are safe under concurrency (:mod:`latentgeom.storage`), so two workers needing the same
untrained network train it once.

``LATENTGEOM_WORKERS`` sets the number of processes: ``auto`` (the default: one per torch thread
of the page's process, at most 2, so 2 under the Makefile's ``OMP_NUM_THREADS=2``; 1 with CUDA,
where one process keeps the GPU busy) or a positive integer (1 runs every unit in the page's own
process, as a sweep job does). The workers share the page's torch threads out among themselves.
Progress goes to the console (:func:`latentgeom.progress.bar`); the workers' own output goes to
the console too, never into a rendered page. The pool is kept for the process's life
(:func:`shutdown` stops it). An interrupt of the page (Jupyter sends it to the kernel's whole
process group) stops the units running; idle workers ignore it, so the kernel's shutdown, which
interrupts first, ends them quietly; a kernel's shutdown request stops the pool before the kernel
terminates its child processes (so no queue is left behind as a leaked semaphore).
"""
from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import signal
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Iterable

from .progress import bar, console
from .validation import usable_cores

__all__ = ["WORKERS_ENV", "compute", "shutdown", "worker_count"]

#: The environment variable that sets the number of worker processes (``auto`` or an integer).
WORKERS_ENV = "LATENTGEOM_WORKERS"

_POOL: dict = {}  # {"executor", "workers", "pid", "pids"}: one pool per process, kept between calls


def worker_count(workers: int | str | None = None) -> int:
    """Worker processes :func:`compute` uses: ``workers`` when given, else ``$LATENTGEOM_WORKERS``,
    else ``"auto"``: one per torch thread of this process (``OMP_NUM_THREADS``), at most 2, and
    1 when CUDA is available.

    Raises ValueError naming the setting when it is neither ``"auto"`` nor a positive integer.
    """
    source = "workers" if workers is not None else WORKERS_ENV
    value = workers if workers is not None else os.environ.get(WORKERS_ENV, "auto")
    if isinstance(value, str) and value.strip().lower() == "auto":
        import torch

        return 1 if torch.cuda.is_available() else max(1, min(2, torch.get_num_threads(), usable_cores()))
    try:
        if isinstance(value, bool) or float(value) != int(value):
            raise ValueError
        count = int(value)
    except (TypeError, ValueError):
        count = 0
    if count < 1:
        raise ValueError(f"{source} must be 'auto' or a positive integer, got {value!r}")
    return count


def compute(units: Iterable, *, workers: int | str | None = None, desc: str = "computing",
            spent: list | None = None) -> float:
    """Compute every unit of ``units`` that its cache does not hold yet.

    In :func:`worker_count` processes (in this process when that is 1), trainings first; any
    other unit starts once the training of its network (the missing :class:`~latentgeom.units.Train`
    with its ``model_key``) has finished, so a worker measures the networks already trained
    while the other one trains the last (a profile would otherwise train its network itself).
    Every unit runs on the same threads whatever else is missing (a lone unit in a worker too):
    a network trained on one thread does not have the bits of one trained on two, and a cache
    entry must not depend on what happened to be cached before. A unit that fails raises its
    own exception here, with a note naming the unit (the worker's traceback is its cause), once
    the units already running have finished; units not yet started are dropped. An interrupt
    cancels what has not started.

    Returns the CPU seconds the worker processes spent (0.0 when everything ran here: this
    process's own CPU time is the caller's to measure). ``spent``, when given, receives one
    ``(unit, CPU seconds)`` per unit computed, wherever it ran (to split the time among stages).
    """
    from .units import Train

    missing = []
    for unit in units:  # without repeats; not by hash: a Computation's arguments may be unhashable
        if unit not in missing and not unit.done():
            missing.append(unit)
    ordered = [u for u in missing if isinstance(u, Train)] + [u for u in missing if not isinstance(u, Train)]
    count = worker_count(workers)
    cpu = 0.0
    with bar(total=len(missing), desc=desc, leave=False, enabled=bool(missing)) as progress:
        if count == 1:
            for unit in ordered:
                start = time.process_time()
                unit.run()
                progress.update()
                if spent is not None:
                    spent.append((unit, time.process_time() - start))
        elif ordered:  # a lone unit too: its numbers must not depend on what else was missing
            cpu = _in_workers(ordered, count, progress, [] if spent is None else spent)
    return cpu


def shutdown(*, now: bool = False) -> None:
    """Stop this process's worker processes (the next :func:`compute` starts new ones): after
    changing the library's code in a running kernel, for instance (workers keep what they
    imported). ``now``: terminate them rather than let them finish their unit and exit (a
    worker's own exit, torch loaded, takes about a second)."""
    pool = _POOL.pop("executor", None)
    owner = _POOL.pop("pid", None)
    pids = _POOL.pop("pids", ())
    _POOL.clear()
    if pool is None or owner != os.getpid():  # a forked child's copy is not its to stop
        return
    if now:
        for process in multiprocessing.active_children():
            if process.pid in pids:  # the pool's workers, not other processes this one started
                process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


def _in_workers(units: list, n: int, progress, spent: list) -> float:
    """Run ``units`` (trainings first) in ``n`` workers, never more at once than workers, so that
    a training waiting in the queue always goes before a profile; a unit whose network's
    training is among ``units`` waits for it. Returns the workers' CPU seconds (and appends
    each unit's to ``spent``)."""
    from .units import Train

    pool = _pool(n)
    env = {k: v for k, v in os.environ.items() if k.startswith("LATENTGEOM_") and k != WORKERS_ENV}
    training = {u.model_key for u in units if isinstance(u, Train)}  # networks not trained yet
    queue, running, cpu = list(units), {}, 0.0
    try:
        while queue or running:
            for unit in [u for u in queue if isinstance(u, Train) or u.model_key not in training]:
                if len(running) == n:
                    break
                queue.remove(unit)
                running[pool.submit(_run, unit, env)] = unit
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            progress.update(len(done))
            failed = [f for f in done if f.exception() is not None]
            if failed:
                error = failed[0].exception()
                unit = running[failed[0]]
                queue.clear()
                _drop([f for f in running if f not in done])
                if isinstance(error, BrokenProcessPool):
                    raise error
                error.add_note(f"(in work unit {unit.name!r}, computed in a worker process)")
                raise error
            for f in done:
                cpu += f.result()
                finished = running.pop(f)
                spent.append((finished, f.result()))
                if isinstance(finished, Train):
                    training.discard(finished.model_key)
    except BrokenProcessPool as error:
        shutdown()
        raise RuntimeError(f"a worker process died (killed, or out of memory) while computing {len(units)} "
                           f"units; set {WORKERS_ENV}=1 to compute them in this process") from error
    except BaseException:  # an interrupt too: nothing more starts
        _drop(list(running))
        raise
    return cpu


def _drop(futures) -> None:
    """Cancel the futures not started and wait for the running ones."""
    for f in futures:
        f.cancel()
    wait(futures)


def _pool(n: int) -> ProcessPoolExecutor:
    """The process's pool of ``n`` workers, started on first use and kept (starting one imports
    torch: seconds), each on this process's torch threads shared out (1 each under 2 threads).
    A new size starts a new pool; a forked child starts its own."""
    if _POOL.get("workers") == n and _POOL.get("pid") == os.getpid():
        return _POOL["executor"]
    shutdown()
    import torch

    threads = max(1, torch.get_num_threads() // n)
    # Spawned workers (and multiprocessing's resource tracker, started with the pool's queues)
    # inherit this process's standard output and error. Inside a notebook those are ipykernel's
    # pipes into the cell's output: point them at the console while the pool and its workers
    # start (the pool starts a process per submission while none is idle).
    others = {p.pid for p in multiprocessing.active_children()}
    with _std_to_console(), _main_not_rerun(), _born_ignoring_interrupts():
        executor = ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_start_worker, initargs=(threads,))
        started = [executor.submit(os.getpid) for _ in range(n)]
    try:
        wait(started)
    except BaseException:
        executor.shutdown(wait=False, cancel_futures=True)
        raise
    # Its worker processes: the children started with it (a task may run on any of them).
    pids = {p.pid for p in multiprocessing.active_children()} - others
    _POOL.update(executor=executor, workers=n, pid=os.getpid(), pids=pids)
    _stop_with_the_kernel()
    return executor


def _stop_with_the_kernel() -> None:
    """Inside a Jupyter kernel, stop the pool first when the kernel is asked to shut down.

    Why: at shutdown the kernel (ipykernel 7) sends SIGTERM to every child in its process group
    and waits for them all; multiprocessing's resource tracker ignores SIGTERM, so the client
    kills the kernel after its grace period, before the kernel's atexit handlers free the
    pool's queues, and the tracker reports them on the console as leaked semaphores.
    Terminating the pool's workers on the shutdown request (``shutdown(now=True)``) and
    collecting the pool frees them. Elsewhere, nothing to do."""
    ipython = sys.modules.get("IPython")  # a kernel has imported it; a script has not
    kernel = getattr(ipython.get_ipython(), "kernel", None) if ipython is not None else None
    for handlers in (getattr(kernel, "control_handlers", None), getattr(kernel, "shell_handlers", None)):
        original = handlers.get("shutdown_request") if isinstance(handlers, dict) else None
        if original is None or getattr(original, "stops_workers", False):
            continue

        async def stop_workers_first(*args, _original=original, **kwargs):
            shutdown(now=True)
            gc.collect()  # the pool's queues (in reference cycles) unregister their semaphores when collected
            return await _original(*args, **kwargs)
        stop_workers_first.stops_workers = True
        handlers["shutdown_request"] = stop_workers_first


@contextlib.contextmanager
def _main_not_rerun():
    """Hide the main module from the workers as they start. A spawned process imports the
    parent's ``__main__`` again (its file, or its module name under ``python -m``), so a script
    calling :func:`compute` without an ``if __name__ == "__main__":`` guard would start workers
    from its workers and break the pool. The units are the library's and need nothing of it."""
    main = sys.modules.get("__main__")
    saved = {name: getattr(main, name) for name in ("__file__", "__spec__") if hasattr(main, name)}
    try:
        for name in saved:
            setattr(main, name, None) if name == "__spec__" else delattr(main, name)
        yield
    finally:
        for name, value in saved.items():
            setattr(main, name, value)


@contextlib.contextmanager
def _born_ignoring_interrupts():
    """Start processes with interrupts ignored: an ignored SIGINT stays ignored across exec and
    Python then installs no KeyboardInterrupt handler, so a worker interrupted while it starts
    (before :func:`_start_worker` runs) neither dies nor prints a traceback. This process
    ignores an interrupt for as long (the pool's start; main thread only, where signals go)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)  # None: set outside Python


@contextlib.contextmanager
def _std_to_console():
    target = console()
    try:
        fd = target.fileno()
    except (AttributeError, OSError, ValueError):  # a console without a descriptor (pytest capture)
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {std: os.dup(std) for std in (1, 2)}
    try:
        for std in saved:
            os.dup2(fd, std)
        yield
    finally:
        for std, copy in saved.items():
            os.dup2(copy, std)
            os.close(copy)


def _start_worker(threads: int) -> None:
    # Units a worker runs compute in the worker itself: a nested pool would oversubscribe.
    os.environ[WORKERS_ENV] = "1"
    # Idle, a worker ignores interrupts (it is born so: _born_ignoring_interrupts): Jupyter
    # interrupts a kernel's whole process group, on every shutdown too, and an idle worker
    # stopped by it would print a traceback on the console and leave the pool broken. A running
    # unit is interrupted (see _run).
    signal.signal(signal.SIGTERM, _terminated)
    import torch

    torch.set_num_threads(threads)


def _terminated(signum, frame) -> None:
    """A worker's SIGTERM (:func:`shutdown` with ``now``, a broken pool, a job cancelled):
    free the semaphores the worker made itself (a progress bar's lock) before exiting, else the
    resource tracker it shares with the page reports them leaked; then exit at once, skipping
    the interpreter's teardown (about a second with torch loaded)."""
    from multiprocessing import util

    util._run_finalizers(0)  # what a normal exit runs first: the semaphores' cleanup among them
    os._exit(0)


def _run(unit, env: dict) -> float:
    """Compute ``unit`` in a worker under the page's ``LATENTGEOM_*`` settings (caches, data,
    switches: the page may have changed them since the worker started); its CPU seconds."""
    for key in [k for k in os.environ if k.startswith("LATENTGEOM_") and k != WORKERS_ENV and k not in env]:
        del os.environ[key]
    os.environ.update(env)
    start = time.process_time()
    signal.signal(signal.SIGINT, signal.default_int_handler)  # an interrupt of the page stops the unit
    try:
        unit.run()
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    return time.process_time() - start
