"""``bench/bench_estimators.py``: its comparison of one case (the reference, ours, ours on an
extra device) and its ``--devices`` option, at a tiny size (the timings themselves are for
``make bench``, not for tests)."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_estimators.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_estimators", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_case_compares_ours_and_each_device_with_the_reference(bench):
    points, nb = bench.gaussian_case(12, 16, 8)
    row = bench.bench_case("tiny", points, nb, 2, repeats=1, window_s=0.0, devices=("cpu",))
    assert row["max_rel_diff"] < 1e-6 and row["kappa_diff"] < 1e-6
    on_cpu = row["devices"]["cpu"]
    assert on_cpu["max_rel_diff"] < 1e-6 and on_cpu["s"] > 0 and on_cpu["speedup"] > 0


def test_best_time_samples_a_window_of_seconds_not_only_a_count_of_runs(bench):
    calls = []

    def fn():
        calls.append(None)
        bench.time.sleep(0.01 if len(calls) != 3 else 0.002)  # the third run is the fastest
        return len(calls)

    best, last = bench._best_time(fn, repeats=2, window_s=0.15)
    assert 8 <= len(calls) <= 16 and last == len(calls)  # ~0.15 s of 10 ms runs, more than 2
    assert 0.002 <= best < 0.008
    calls.clear()
    assert bench._best_time(fn, repeats=2, window_s=0.0)[1] == 2  # no window: exactly the count


def test_differences_compare_sorted_magnitudes(bench):
    ref = np.array([[[1.0, -2.0]], [[0.5, 0.5]]])
    assert bench._differences(ref, -ref[:, :, ::-1]) == (0.0, 0.0)
    rel, kappa = bench._differences(ref, ref * 1.1)
    assert rel == pytest.approx(0.1) and kappa == pytest.approx(0.1)


def test_devices_option(bench):
    assert bench._devices("none") == ()
    assert bench._devices("cpu") == ("cpu",)
    assert bench._devices("auto") in ((), ("cuda",))
    with pytest.raises(SystemExit, match="--devices: 'gpu0' is not a torch device"):
        bench._devices("gpu0")


def test_core_probe_reports_a_speed_up(bench):
    probe = bench._core_probe(repeats=1)
    assert 0 < probe < 2 * max(1, bench.torch.get_num_threads()) + 1
