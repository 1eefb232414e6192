"""Worker processes for a page's missing work units (latentgeom.workers)."""
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from latentgeom import workers
from latentgeom.chapters.presets import get_preset
from latentgeom.profiles import profile
from latentgeom.units import Images, Profile, Train, untrained
from latentgeom.validation import usable_cores
from latentgeom.networks.training import TrainConfig, train

TINY = dict(dataset="fashion-mnist", width=4, n_train=256, epochs=1, n_test=200)


@dataclass(frozen=True)
class Probe:
    """A unit that writes what its process sees: pid, torch threads, one environment variable."""

    path: str
    name: str = "probe"
    model_key: str = "probe"

    def done(self) -> bool:
        return Path(self.path).exists()

    def run(self) -> None:
        Path(self.path).write_text(f"{os.getpid()} {torch.get_num_threads()} "
                                   f"{os.environ.get('LATENTGEOM_PROBE', '-')} {os.environ.get(workers.WORKERS_ENV)}")


@dataclass(frozen=True)
class Loud:
    """A unit that writes to its standard output and error descriptors (as torch's C++ does)."""

    name: str
    model_key: str = "loud"

    def done(self) -> bool:
        return False

    def run(self) -> None:
        os.write(1, f"{self.name} on stdout\n".encode())
        os.write(2, f"{self.name} on stderr\n".encode())


@dataclass(frozen=True)
class Failing:
    name: str = "failing unit"
    model_key: str = "failing"

    def done(self) -> bool:
        return False

    def run(self) -> None:
        raise ValueError("n_points must be at least 10, got 3")


@dataclass(frozen=True)
class Stamp:
    """A unit that spends ``seconds`` of CPU and writes when it started and ended (``path``): a
    network's measurement (``model_key``: the network)."""

    path: str
    model_key: str
    seconds: float = 0.0

    @property
    def name(self) -> str:
        return Path(self.path).name

    def done(self) -> bool:
        return Path(self.path).exists()

    def run(self) -> None:
        start, cpu = time.time(), time.process_time()
        while time.process_time() - cpu < self.seconds:  # CPU seconds, whatever else runs
            pass
        Path(self.path).write_text(f"{start} {time.time()}")


@dataclass(frozen=True)
class StampedTrain(Train):
    """A training (a :class:`~latentgeom.units.Train` to the scheduler) that stamps like
    :class:`Stamp`; its network's key is ``key``."""

    path: str = ""
    key: str = ""
    seconds: float = 0.0

    @property
    def model_key(self) -> str:
        return self.key

    @property
    def name(self) -> str:
        return Path(self.path).name

    def done(self) -> bool:
        return Stamp.done(self)

    def run(self) -> None:
        Stamp.run(self)


def _times(path) -> tuple[float, float]:
    start, end = Path(path).read_text().split()
    return float(start), float(end)


@pytest.fixture
def caches(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTGEOM_CACHE", str(tmp_path / "cache" / "models"))
    monkeypatch.setenv("LATENTGEOM_RESULTS", str(tmp_path / "results"))
    yield tmp_path
    workers.shutdown()


@pytest.mark.parametrize("value, count", [("1", 1), ("3", 3), (2, 2), ("auto", None), (" AUTO ", None)])
def test_worker_count(value, count, monkeypatch):
    monkeypatch.setenv(workers.WORKERS_ENV, str(value))
    expected = count or (1 if torch.cuda.is_available() else max(1, min(2, torch.get_num_threads(),
                                                                           usable_cores())))
    assert workers.worker_count() == expected
    assert workers.worker_count(value) == expected


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", ""])
def test_bad_worker_count_fails_clearly(value, monkeypatch):
    monkeypatch.setenv(workers.WORKERS_ENV, value)
    with pytest.raises(ValueError, match="LATENTGEOM_WORKERS must be 'auto' or a positive integer"):
        workers.worker_count()
    for bad in (value, True, 0.5):
        with pytest.raises(ValueError, match="^workers must be 'auto' or a positive integer"):
            workers.worker_count(bad)


def test_units_run_in_single_threaded_workers_under_the_callers_settings(caches, monkeypatch):
    monkeypatch.setenv("LATENTGEOM_PROBE", "first")
    probes = [Probe(str(caches / f"probe{i}")) for i in range(4)]
    workers.compute(probes, workers=2)
    seen = [Path(p.path).read_text().split() for p in probes]
    pids = {s[0] for s in seen}
    assert str(os.getpid()) not in pids and 1 <= len(pids) <= 2
    threads = max(1, torch.get_num_threads() // 2)  # this process's threads, shared out
    assert all(s[1:] == [str(threads), "first", "1"] for s in seen)  # no nested pools
    # The pool is kept, and it follows settings changed since it started (a test's caches).
    monkeypatch.setenv("LATENTGEOM_PROBE", "second")
    later = Probe(str(caches / "later"))
    workers.compute([later, *probes], workers=2)  # the done ones are not run again
    assert Path(later.path).read_text().split()[2] == "second"
    assert [Path(p.path).read_text().split() for p in probes] == seen


def test_a_failing_unit_raises_its_own_error_with_its_name(caches):
    with pytest.raises(ValueError, match="n_points must be at least 10, got 3") as raised:
        workers.compute([Failing(), Probe(str(caches / "p")), Probe(str(caches / "q"))], workers=2)
    assert raised.value.__notes__ == ["(in work unit 'failing unit', computed in a worker process)"]
    # The pool is still there for the next call.
    workers.compute([Probe(str(caches / "after"))], workers=2)
    assert Path(caches / "after").is_file()


def test_a_lone_unit_runs_on_the_threads_of_any_other(caches):
    """A network's bits depend on its threads: a unit computed alone runs as it would among others."""
    alone = Probe(str(caches / "alone"))
    workers.compute([alone], workers=2)
    pid, threads, *_ = Path(alone.path).read_text().split()
    assert pid != str(os.getpid()) and threads == str(max(1, torch.get_num_threads() // 2))


def test_in_one_process_nothing_starts(caches):
    probe = Probe(str(caches / "here"))
    assert workers.compute([probe], workers=1) == 0.0
    assert Path(probe.path).read_text().split()[0] == str(os.getpid())


@pytest.mark.filterwarnings("ignore::latentgeom.UnresolvedCurvatureWarning")
def test_workers_train_and_measure_what_the_page_reads(caches):
    """Trainings first, then profiles; the profile a worker cached equals this process's own
    measurement of the same network, and every unit is done afterwards."""
    P = get_preset("tiny")
    configs = [TrainConfig(model=m, **TINY) for m in ("plain_cnn", "vgg_small")]
    images, geometry = Images(P.dataset, n=20, seed=0), P.geometry(modes=("paper",))
    units = [Train(c) for c in configs] + [Profile.curvature(c, c.epochs, images, geometry) for c in configs] \
        + [Profile.curvature(untrained(configs[0]), 0, images, geometry)]
    assert workers.compute(units, workers=2) > 0  # CPU seconds spent in the workers
    assert all(u.done() for u in units)
    for unit in units[2:]:
        cached = unit.result()
        trained = unit.model()
        fresh = profile(trained, images.load(), geometry, cache=False, progress=False)
        pd.testing.assert_frame_equal(cached.drop(columns=["test_accuracy", "train_accuracy"]),
                                      fresh.drop(columns=["test_accuracy", "train_accuracy"]), rtol=1e-9,
                                      check_dtype=False)  # the cache stores JSON
    # The trained networks are the ones training here gives, up to the summation order of
    # one thread against several (the loop, data and seeds are the same).
    mine = train(configs[0], cache_models=False, progress=False)
    theirs = units[0].result()
    assert abs(mine.test_accuracy - theirs.test_accuracy) <= 0.05
    w1, w2 = (next(m.model.parameters()).detach().numpy() for m in (mine, theirs))
    assert np.allclose(w1, w2, atol=1e-2)


NOTEBOOK_KERNEL = """
import os, sys
sys.path[:0] = [{lib!r}, {tests!r}]
from test_workers import Loud
from latentgeom import workers

class KernelStream:  # what ipykernel makes of sys.stderr: its fd 2 goes into the cell
    _original_stdstream_copy = os.open({console!r}, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    def write(self, text): return len(text)
    def flush(self): pass

cell = os.open({cell!r}, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
os.dup2(cell, 1); os.dup2(cell, 2)
sys.stderr = KernelStream()
workers.compute([Loud("first"), Loud("second")], workers=2)
os.write(1, b"the kernel's own output")
"""


def test_worker_output_goes_to_the_console_not_into_the_page(tmp_path):
    """Inside a notebook kernel, descriptors 1 and 2 are ipykernel's pipes into the cell's
    output: the workers write to the console the kernel kept instead."""
    import subprocess
    import sys

    console, cell = tmp_path / "console.txt", tmp_path / "cell.txt"
    script = NOTEBOOK_KERNEL.format(lib=str(Path(workers.__file__).parents[1]), tests=str(Path(__file__).parent),
                                    console=str(console), cell=str(cell))
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120,
                   env={**os.environ, workers.WORKERS_ENV: "2"})
    assert cell.read_text() == "the kernel's own output"  # its descriptors are its own again
    said = console.read_text()
    assert all(f"{n} on {s}" in said for n in ("first", "second") for s in ("stdout", "stderr"))


def draw_a_bar() -> str:
    """A worker's task that draws a progress bar (creating its lock) and says so."""
    from latentgeom.progress import bar

    with bar(total=1, desc="bar", enabled=True) as progress:
        progress.update()
    return "drawn"


def test_a_kernel_with_workers_shuts_down_without_leaking_semaphores(tmp_path):
    """A real Jupyter kernel that started the workers, executed and shut down as the book's
    build does (nbclient): the pool stops on the shutdown request, so multiprocessing's resource
    tracker reports no leaked semaphores on the console (it did once per page before): neither
    the pool's queues nor the workers' own progress-bar locks."""
    import subprocess
    import sys

    import nbformat

    # Each worker draws a progress bar, as the book's units do: its lock is a semaphore of the
    # worker's own, freed when the worker is terminated.
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "import test_workers\n"
        "from latentgeom import workers\n"
        "pool = workers._pool(2)\n"
        "print(sum(len(pool.submit(test_workers.draw_a_bar).result()) for _ in range(4)))")])
    path = tmp_path / "pool.ipynb"
    nbformat.write(nb, path)
    # The client's grace after its shutdown request (jupyter_client's shutdown_wait_time: half of
    # it, then SIGTERM) is 2.5 s by default, as in the book's build, where nothing else runs.
    # Under `make test` two test processes share the 2 cores: the test failed once in three
    # suites on 2026-12-07 (all 5 objects reported; never in 17 runs alone or beside CPU hogs),
    # most likely the hook running out of those 2.5 s. 10 s keeps the test about the hook, not
    # the load: without the hook it still fails (checked), as the kernel never exits on its own.
    run = ("import nbclient, nbformat, sys\n"
           "from traitlets.config import Config\n"
           f"nb = nbformat.read({str(path)!r}, 4)\n"
           "grace = Config({'KernelManager': {'shutdown_wait_time': 20.0}})\n"
           "nbclient.NotebookClient(nb, kernel_name='python3', config=grace).execute()\n"
           "print(nb.cells[0].outputs[0]['text'].strip())")
    out = subprocess.run([sys.executable, "-c", run], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0 and out.stdout.strip() == "20", out.stderr[-2000:]
    assert "leaked semaphore" not in out.stderr, out.stderr[-2000:]


def test_stopping_the_workers_now_leaves_other_processes_alone():
    """``shutdown(now=True)`` (the kernel's shutdown request) terminates the pool's own workers,
    not another process the caller started."""
    import multiprocessing

    other = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(60,))
    other.start()
    try:
        workers._pool(2)
        pids = set(workers._POOL["pids"])
        assert len(pids) == 2 and other.pid not in pids
        workers.shutdown(now=True)
        assert other.is_alive() and not workers._POOL
        assert not pids & {p.pid for p in multiprocessing.active_children()}
    finally:
        other.terminate()
        other.join()


def test_a_script_without_a_main_guard_can_use_workers(tmp_path):
    """Spawned workers import the parent's main module again: a script calling compute at its
    top level (no ``if __name__ == "__main__":``) must not start workers from its workers."""
    import subprocess
    import sys

    script = tmp_path / "unguarded.py"
    script.write_text(f"""import sys
sys.path[:0] = [{str(Path(workers.__file__).parents[1])!r}, {str(Path(__file__).parent)!r}]
from test_workers import Probe
from latentgeom import workers
workers.compute([Probe({str(tmp_path / 'a')!r}), Probe({str(tmp_path / 'b')!r})], workers=2)
print("done")
""")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "done", out.stderr[-2000:]
    assert (tmp_path / "a").is_file() and (tmp_path / "b").is_file()


def test_a_measurement_starts_once_its_network_is_trained_and_no_later(caches):
    """Trainings go first; a network's profile waits for its training and no longer: it runs
    while the other worker still trains the slower network."""
    config = TrainConfig(model="plain_cnn", **TINY)
    d = caches

    def train(key, seconds):
        return StampedTrain(config, path=str(d / f"train {key}"), key=key, seconds=seconds)

    units = [Stamp(str(d / "profile a"), "a"), Stamp(str(d / "profile b"), "b"),
             train("a", 1.0), train("b", 4.0), Stamp(str(d / "cached network"), "c")]
    spent = []
    workers.compute(units, workers=2, spent=spent)
    (_, trained_a), (_, trained_b) = _times(d / "train a"), _times(d / "train b")
    started_a, started_b = _times(d / "profile a")[0], _times(d / "profile b")[0]
    assert trained_a <= started_a < trained_b  # after its own training, beside the other one
    assert started_b >= trained_b
    assert _times(d / "cached network")[0] < trained_b  # no training of its own to wait for
    assert sorted(u.name for u, _ in spent) == sorted(u.name for u in units)
    assert dict((u.name, s) for u, s in spent)["train b"] == pytest.approx(4.0, abs=0.5)  # its CPU seconds


def test_stages_computed_together_share_the_wall_by_their_cpu(caches, monkeypatch):
    from latentgeom.chapters.protocol import Page, Study

    monkeypatch.setenv(workers.WORKERS_ENV, "1")
    config = TrainConfig(model="plain_cnn", **TINY)
    d = caches
    study = Study(page=Page("findings/x.md", {}, lambda: None), parameters={})
    trains = [StampedTrain(config, path=str(d / "t"), key="t", seconds=0.6)]
    profiles = [Stamp(str(d / "p"), "t", seconds=0.2), Stamp(str(d / "q"), "t", seconds=0.2)]
    start = time.perf_counter()
    study.compute_together({"training": trains, "profiles": [*profiles, trains[0]]})  # training counted once
    elapsed = time.perf_counter() - start
    cpu, wall = study.clock.cpu, study.clock.wall
    assert cpu["training"] == pytest.approx(0.6, abs=0.1) and cpu["profiles"] == pytest.approx(0.4, abs=0.1)
    assert wall["training"] / wall["profiles"] == pytest.approx(cpu["training"] / cpu["profiles"])
    assert 0.8 * elapsed <= wall["training"] + wall["profiles"] <= elapsed


def test_an_idle_worker_survives_an_interrupt_and_a_running_unit_stops(caches):
    """Jupyter interrupts a kernel's whole process group (on every shutdown too): idle workers
    carry on, quietly, and a unit running when the page is interrupted stops."""
    import signal
    import threading

    workers.compute([Probe(str(caches / "a"))], workers=2)
    pids = sorted(workers._POOL["executor"]._processes)

    def interrupt():
        for pid in pids:
            os.kill(pid, signal.SIGINT)

    interrupt()
    time.sleep(0.5)
    workers.compute([Probe(str(caches / "b")), Probe(str(caches / "c"))], workers=2)  # the same pool
    assert sorted(workers._POOL["executor"]._processes) == pids
    timer = threading.Timer(2.0, interrupt)
    timer.start()
    try:
        workers.compute([Stamp(str(caches / "slow"), "slow", seconds=120)], workers=2)
        raised = None
    except BaseException as error:  # noqa: B036 (the interrupt itself)
        raised = error
    timer.join()
    assert isinstance(raised, KeyboardInterrupt) and not (caches / "slow").exists()
