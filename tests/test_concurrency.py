"""The caches under concurrency: processes racing on one key make one entry, computed once;
a killed writer leaves no entry that a reader trusts; cache-only switches raise clearly.

Races run in real processes (``python -c``), released together by a start file.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from latentgeom import storage
from latentgeom.networks import model_cache, training
from latentgeom.storage import CacheMiss, cached_frame, file_lock, lookup_only

LIB = str(Path(__file__).resolve().parents[1] / "lib")

# A child: wait for the start file, then ask the cache for one frame whose computation is slow
# and logged (one line per computation), and print what it got.
FRAME_CHILD = """
import os, sys, time
from pathlib import Path
import pandas as pd
from latentgeom.storage import cached_frame
entry, log, go = map(Path, sys.argv[1:4])
go.with_name(f"ready-{os.getpid()}").touch()
while not go.exists():
    time.sleep(0.01)
def compute():
    with open(log, "a") as fh:
        fh.write(f"{os.getpid()}\\n")
    time.sleep(float(sys.argv[4]))
    return pd.DataFrame({"layer": ["a", "b"], "value": [1.5, 2.5]})
print(cached_frame(entry, compute).to_json(), flush=True)
"""

# A child that trains one tiny config; it logs every real training (a cache miss).
TRAIN_CHILD = """
import os, sys, time
from pathlib import Path
from latentgeom.networks import training
log, go = map(Path, sys.argv[1:3])
original = training._training_data
def logged(config):
    with open(log, "a") as fh:
        fh.write(f"{os.getpid()}\\n")
    return original(config)
training._training_data = logged
go.with_name(f"ready-{os.getpid()}").touch()
while not go.exists():
    time.sleep(0.01)
config = training.TrainConfig(model="plain_cnn", width=2, n_train=128, n_test=64, epochs=1, batch_size=64,
                              checkpoint_epochs=(0,))
trained = training.train(config, progress=False, device="cpu")
print(round(trained.test_accuracy, 6), flush=True)
"""


def _env(tmp_path, **extra):
    env = dict(os.environ, PYTHONPATH=LIB + os.pathsep + os.environ.get("PYTHONPATH", ""),
               LATENTGEOM_CACHE=str(tmp_path / "models"), OMP_NUM_THREADS="1")
    env.pop("LATENTGEOM_NO_TRAIN", None)
    env.pop("LATENTGEOM_NO_COMPUTE", None)
    env.update(extra)
    return env


def _race(code, args, env, n, go=None):
    """Start ``n`` children; with ``go``, release them together once all wait at the start line."""
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *map(str, args)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(n)]
    if go is not None:
        deadline = time.time() + 300
        while len(list(go.parent.glob("ready-*"))) < n and time.time() < deadline:
            assert all(p.poll() is None for p in procs), "a child died before the start"
            time.sleep(0.05)
        go.touch()
    return procs


@pytest.mark.slow  # seconds of work, but three processes importing torch
def test_racing_processes_compute_one_frame_once(tmp_path):
    entry, log, go = tmp_path / "profiles" / "curvature-x.json", tmp_path / "computed.log", tmp_path / "go"
    procs = _race(FRAME_CHILD, [entry, log, go, 1.0], _env(tmp_path), 3, go=go)
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-500:] for o in outputs]
    assert len(log.read_text().split()) == 1, "the frame was computed more than once"
    assert len({o[0] for o in outputs}) == 1  # every process got the same frame
    assert sorted(p.name for p in entry.parent.iterdir()) == [".curvature-x.json.lock", "curvature-x.json"]
    assert cached_frame(entry, lambda: pytest.fail("recomputed")).equals(
        pd.DataFrame({"layer": ["a", "b"], "value": [1.5, 2.5]}))


@pytest.mark.slow
def test_racing_processes_train_one_model_once(tmp_path):
    log, go = tmp_path / "trained.log", tmp_path / "go"
    procs = _race(TRAIN_CHILD, [log, go], _env(tmp_path), 3, go=go)
    outputs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-800:] for o in outputs]
    assert len(log.read_text().split()) == 1, "the model was trained more than once"
    assert len({o[0] for o in outputs}) == 1  # all three got the same model
    files = sorted(p.name for p in (tmp_path / "models").iterdir() if not p.name.startswith("."))
    assert len(files) == 2 and files[0].endswith("-e0000.pt") and files[1].endswith("-e0001.pt")
    assert not [p for p in (tmp_path / "models").iterdir() if p.name.endswith(".tmp")]


@pytest.mark.slow
def test_a_killed_writer_leaves_no_entry_and_no_lock(tmp_path):
    entry, log, go = tmp_path / "profiles" / "dimension-y.json", tmp_path / "computed.log", tmp_path / "go"
    go.touch()
    proc = _race(FRAME_CHILD, [entry, log, go, 60], _env(tmp_path), 1)[0]
    deadline = time.time() + 60
    while not (log.exists() and log.read_text().strip()) and time.time() < deadline:
        time.sleep(0.05)  # wait until it is computing, i.e. holds the lock
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not entry.exists()
    start = time.time()
    frame = cached_frame(entry, lambda: pd.DataFrame({"x": [1]}))  # the lock died with its holder
    assert time.time() - start < 10 and frame["x"].tolist() == [1] and entry.is_file()


def test_a_truncated_model_file_is_not_trusted(tmp_path):
    path = model_cache.save("k" * 24, 1, {"weights": [1, 2, 3]}, directory=tmp_path)
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.warns(RuntimeWarning, match="unusable"):
        assert model_cache.load("k" * 24, 1, directory=tmp_path) is None
    assert not path.exists()


def test_no_train_raises_a_clear_error_on_a_miss(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTGEOM_CACHE", str(tmp_path))
    monkeypatch.setenv("LATENTGEOM_NO_TRAIN", "1")
    config = training.TrainConfig(model="plain_cnn", width=2, n_train=64, epochs=1)
    with pytest.raises(CacheMiss, match="plain_cnn w2.*LATENTGEOM_NO_TRAIN.*sweep"):
        training.train(config, progress=False)
    assert not storage.cache_only("frame")  # frames are still computed
    assert cached_frame(tmp_path / "f.json", lambda: pd.DataFrame({"x": [1]}))["x"].tolist() == [1]


def test_no_compute_and_lookup_only_raise_on_a_frame_miss(tmp_path, monkeypatch):
    cached_frame(tmp_path / "hit.json", lambda: pd.DataFrame({"x": [2]}))
    with lookup_only():
        assert cached_frame(tmp_path / "hit.json", lambda: pytest.fail("computed"))["x"].tolist() == [2]
        with pytest.raises(CacheMiss, match="miss.json.*sweep"):
            cached_frame(tmp_path / "miss.json", lambda: pytest.fail("computed"))
        assert storage.cache_only("model")
    monkeypatch.setenv("LATENTGEOM_NO_COMPUTE", "1")
    with pytest.raises(CacheMiss):
        cached_frame(tmp_path / "miss.json", lambda: pytest.fail("computed"))
    assert storage.cache_only("model") and storage.cache_only("frame")
    monkeypatch.setenv("LATENTGEOM_NO_COMPUTE", "0")
    assert not storage.cache_only("frame")
    with pytest.raises(ValueError, match="kind must be 'model' or 'frame'"):
        storage.cache_only("profile")


def test_file_lock_excludes_a_second_holder(tmp_path):
    import fcntl

    entry = tmp_path / "e.json"
    with file_lock(entry):
        fd = os.open(tmp_path / ".e.json.lock", os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
    fd = os.open(tmp_path / ".e.json.lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again
    os.close(fd)
