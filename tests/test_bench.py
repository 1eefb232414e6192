"""``bench/bench_estimators.py``, ``bench/bench_training.py`` and ``bench/bench_training_bounds.py``:
the comparison of one case (the reference, ours, ours on an extra device), the ``--devices``
option, the forward passes of a profile's neighbourhoods, one training case, a candidate recipe
and the batch-norm stub, at a tiny size (the timings themselves are for ``make bench``, not for
tests)."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from latentgeom.paths import data_dir

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return _load("bench_estimators")


@pytest.fixture(scope="module")
def bench_training():
    return _load("bench_training")


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


def test_forward_passes_of_a_profile_ours_equal_plain(bench):
    net = bench.lg.build_model("vgg_small", width=2, seed=0).eval()
    images = torch.randn(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    row = bench.bench_forward(net, images, q=2, rounds=1)
    assert row["K"] == 4 and "input" not in row["layers"] and row["layers"][-1] == "logits"
    assert row["plain_s"] > 0 and row["ours_s"] > 0 and row["speedup"] > 0
    assert row["max_rel_diff"] < 1e-5  # float32 both: equal to round-off


@pytest.mark.skipif(not (data_dir() / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").is_file(),
                    reason="Fashion-MNIST missing (run `make data`)")
def test_training_case_compares_the_plain_loop_with_ours(bench_training):
    assert bench_training.PLAIN == dict(precision="float32", batch_size=128, lr=0.05, momentum=0.9)
    assert bench_training.OURS["precision"] == "bfloat16"
    # the same SGD as the plain loop (the first version's), so that accuracy per epoch can match
    assert {k: bench_training.OURS[k] for k in bench_training.RECIPE_FIELDS} == \
        {k: bench_training.PLAIN[k] for k in bench_training.RECIPE_FIELDS}
    row = bench_training.training_case("plain_cnn", 2, seeds=(0, 1), epochs=1, n_train=256, n_test=200, rounds=1,
                                       speed_images=256)
    assert row["model"] == "plain_cnn" and row["width"] == 2 and row["seeds"] == [0, 1]
    assert row["plain_images_per_second"] > 0 and row["ours_images_per_second"] > 0
    assert row["speedup"] == pytest.approx(row["ours_images_per_second"] / row["plain_images_per_second"])
    assert row["two_at_once_images_per_second"] > 0
    assert row["two_at_once_speedup"] == pytest.approx(row["two_at_once_images_per_second"]
                                                       / row["plain_images_per_second"])
    # both loops also two at once (one single-threaded worker per network, as the book trains):
    # the ratio of the two pairs compares the loops at the same use of the cores
    assert set(row["speed_samples"]) == {"plain", "ours", "plain, two at once", "ours, two at once"}
    assert row["two_at_once_ratio"] == pytest.approx(row["two_at_once_images_per_second"]
                                                     / row["plain_two_at_once_images_per_second"])
    for loop in ("plain", "ours"):
        assert len(row[f"{loop}_test_accuracy"]) == 2 and all(0 <= a <= 1 for a in row[f"{loop}_test_accuracy"])
    # the reference's own spread: a less stable loop of ours cannot widen what counts as equal
    assert row["seed_spread"] == pytest.approx(np.ptp(row["plain_test_accuracy"]))
    assert row["equal_accuracy"] == (abs(row["accuracy_difference"]) <= row["seed_spread"])
    bench_training.print_table([row])


def test_a_candidate_recipe_replaces_only_our_loops_sgd_settings(bench_training):
    assert bench_training.parse_recipe("") == {}
    assert bench_training.parse_recipe(" lr=0.15, momentum=0.85,batch_size=128") == dict(lr=0.15, momentum=0.85,
                                                                                           batch_size=128)
    loop = bench_training.our_loop(dict(lr=0.15))
    assert loop == {**bench_training.OURS, "lr": 0.15} and bench_training.OURS["lr"] != 0.15
    config = bench_training._config("plain_cnn", 2, "ours", dict(momentum=0.8), seed=3)
    assert (config.momentum, config.lr, config.precision) == (0.8, bench_training.OURS["lr"], "bfloat16")
    assert bench_training._config("plain_cnn", 2, "plain", dict(momentum=0.8)).momentum == 0.9  # plain stays
    for text, match in [("lrr=0.1", r"KEY one of \['batch_size', 'lr', 'momentum'\], got 'lrr=0.1'"),
                        ("lr", "expected KEY=VALUE"), ("lr=fast", "lr must be a number, got 'fast'"),
                        ("batch_size=1.5", "batch_size must be an integer, got '1.5'"),
                        ("momentum=1.5", r"momentum must be in \[0, 1\)")]:
        with pytest.raises(ValueError, match=match):
            bench_training.parse_recipe(text)
    with pytest.raises(ValueError, match=r"ours may change \['batch_size', 'lr', 'momentum'\], got \['precision'\]"):
        bench_training.our_loop(dict(precision="float32"))


@pytest.fixture(scope="module")
def bench_bounds():
    return _load("bench_training_bounds")


def test_the_batch_norm_stub_replaces_only_the_narrow_route_and_is_undone(bench_bounds):
    from latentgeom.networks import batch_norm
    original = batch_norm._ContiguousBatchNorm
    layer = batch_norm.BatchNorm2d(4).train()
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([1.0, 2.0, 3.0, 4.0]))
        layer.bias.copy_(torch.tensor([0.5, 0.0, -1.0, 2.0]))
    x = torch.randn(2, 4, 3, 3).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    wide = torch.randn(2, 16, 3, 3).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    with bench_bounds.batch_norm_stub():
        y = layer(x)
        expected = layer.bias.view(1, -1, 1, 1).bfloat16() + x * layer.weight.view(1, -1, 1, 1).bfloat16()
        assert torch.allclose(y.float(), expected.float(), rtol=1e-2, atol=0.02)  # affine only: no statistics
        assert torch.equal(layer.running_mean, torch.zeros(4))                 # nor running averages
        assert y.is_contiguous(memory_format=torch.channels_last)
        normalised = batch_norm.BatchNorm2d(16).train()(wide).float()          # wide layers still normalise
        assert normalised.mean(dim=(0, 2, 3)).abs().max() < 0.05
    assert batch_norm._ContiguousBatchNorm is original
    assert layer(x).float().mean(dim=(0, 2, 3)).sub(layer.bias).abs().max() < 0.05  # normalised again


@pytest.mark.skipif(not (data_dir() / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").is_file(),
                    reason="Fashion-MNIST missing (run `make data`)")
def test_bounds_time_every_loop_against_the_plain_one(bench_bounds):
    row = bench_bounds.bounds("vgg_small", 2, rounds=1, images=128)
    names = [name for name, *_ in bench_bounds.LOOPS]
    assert set(row["images_per_second"]) == set(row["speedup"]) == set(names) and row["speedup"]["plain"] == 1
    assert all(v > 0 for v in row["images_per_second"].values()) and all(len(s) == 1 for s in row["samples"].values())
