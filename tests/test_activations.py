"""latentgeom.networks.activations: per-layer activations, layer subsets, batching, devices, errors, neighbours."""
from __future__ import annotations

import inspect
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from latentgeom.networks import activations
from latentgeom.networks.activations import extract, iter_layers, resolve_device
from latentgeom.networks.data import load_tensors
from latentgeom.networks.models import build_model
from latentgeom.paths import data_dir


@pytest.fixture(scope="module")
def images():
    """Real Fashion-MNIST images when present (else seeded noise of the same shape)."""
    if (data_dir() / "FashionMNIST" / "raw" / "t10k-images-idx3-ubyte").is_file():
        return load_tensors("fashion-mnist", "test", n=40, seed=0)[0]
    return torch.randn(40, 1, 28, 28, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def model():
    """A network with BatchNorm and residual blocks, with non-trivial BatchNorm statistics."""
    net = build_model("resnet_small", width=4, seed=0)
    net.train()
    with torch.no_grad():  # a few forward passes in train mode move the running statistics
        for s in range(3):
            net(torch.randn(16, 1, 28, 28, generator=torch.Generator().manual_seed(s)) * 2 + 0.5)
    return net.eval()


def _expected(model, x):
    """Each stage's output computed by hand, flattened per image."""
    out = {"input": x.flatten(1)}
    with torch.no_grad():
        for name, stage in model.stages.items():
            x = stage(x)
            out[name] = x.flatten(1)
    return out


def test_extract_all_layers(model, images):
    acts = extract(model, images, device="cpu")
    names = [p.name for p in model.probe_layers]
    assert list(acts) == names                      # probe order
    expected = _expected(model, images)
    for name, value in acts.items():
        assert value.dtype == torch.float32 and value.device.type == "cpu"
        assert value.ndim == 2 and value.shape == expected[name].shape and value.shape[0] == len(images)
        assert torch.allclose(value, expected[name], atol=1e-5), name
    with torch.no_grad():
        assert torch.allclose(acts["logits"], model(images), atol=1e-5)
    assert acts["logits"].shape == (40, 10)
    # extract runs convolutions channels-last on the CPU, and gives the model its layout back
    assert all(p.is_contiguous() for p in model.parameters())


def test_extract_keeps_a_channels_last_model_channels_last(images):
    net = build_model("vgg_small", width=4, seed=0).eval().to(memory_format=torch.channels_last)
    expected = _expected(net, images)
    acts = extract(net, images, device="cpu")
    for name, value in acts.items():
        assert torch.allclose(value, expected[name], atol=1e-5), name
    convs = [p for p in net.parameters() if p.ndim == 4 and p.shape[1] > 1]  # a 1-channel kernel is both
    assert all(p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous() for p in convs)


def test_input_layer_is_the_flattened_images(model, images):
    acts = extract(model, images, ["input"], device="cpu")
    assert list(acts) == ["input"]
    assert torch.equal(acts["input"], images.flatten(1))
    assert acts["input"].shape == (40, 28 * 28)


def test_layer_subset_in_probe_order(model, images):
    names = [p.name for p in model.probe_layers]
    wanted = [names[-1], names[2], "input"]            # asked out of order
    acts = extract(model, images, wanted, device="cpu")
    assert list(acts) == ["input", names[2], names[-1]]
    full = extract(model, images, device="cpu")
    for name in acts:
        assert torch.equal(acts[name], full[name])
    single = extract(model, images, names[3], device="cpu")   # one name as a string
    assert list(single) == [names[3]] and torch.equal(single[names[3]], full[names[3]])


def test_batch_size_does_not_change_values(model, images):
    small = extract(model, images, batch_size=7, device="cpu")
    large = extract(model, images, batch_size=64, device="cpu")
    one = extract(model, images[:5], batch_size=1, device="cpu")
    for name in small:
        assert torch.allclose(small[name], large[name], atol=1e-5), name
        assert torch.allclose(one[name], large[name][:5], atol=1e-5), name


def test_model_state_is_restored(model, images):
    model.train()
    try:
        extract(model, images[:4], device="cpu")
        assert model.training                                   # mode restored
    finally:
        model.eval()
    assert all(len(m._forward_hooks) == 0 for m in model.modules())  # hooks removed
    before = {k: v.clone() for k, v in model.state_dict().items()}
    extract(model, images[:4], device="cpu")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # BN stats untouched


def test_unknown_layer_is_a_clear_error(model, images):
    with pytest.raises(ValueError, match=r"unknown layer\(s\) \['conv9'\]; valid: \['input', 'stem'"):
        extract(model, images, ["input", "conv9"], device="cpu")


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_images_are_a_clear_error(model, images, bad):
    x = images[:6].clone()
    x[2, 0, 5, 5] = bad
    with pytest.raises(ValueError, match=r"images contains 1 non-finite value"):
        extract(model, x, device="cpu")
    with pytest.raises(ValueError, match=r"images contains 1 non-finite value"):
        next(iter_layers(model, x, device="cpu"))


@pytest.mark.parametrize("bad, kwargs, match", [
    (torch.zeros(3, 28, 28), {}, r"images must be a tensor \[N, C, H, W\]"),
    ([[0.0]], {}, r"images must be a tensor \[N, C, H, W\]"),
    (torch.zeros(0, 1, 28, 28), {}, "images is empty"),
    (torch.zeros(2, 1, 28, 28), dict(batch_size=0), "batch_size must be an integer >= 1"),
    (torch.zeros(2, 1, 28, 28), dict(batch_size=2.5), "batch_size must be an integer >= 1"),
    (torch.zeros(2, 1, 28, 28), dict(device="tpu"), "device must be 'auto', 'cpu' or 'cuda"),
])
def test_bad_arguments(model, bad, kwargs, match):
    with pytest.raises(ValueError, match=match):
        extract(model, bad, **{"device": "cpu", **kwargs})


def test_devices(model, images):
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    acts = extract(model, images[:4], ["logits"], device="cpu", keep_on_device=True)
    assert acts["logits"].device.type == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present")
def test_cuda_without_gpu_is_a_clear_error(model, images):
    with pytest.raises(ValueError, match="CUDA is not available"):
        extract(model, images[:2], device="cuda")
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda:0")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(images):
    net = build_model("resnet_small", width=4, seed=0).eval()
    cpu = extract(net, images, device="cpu")
    gpu = extract(net, images, device="cuda")
    on_device = extract(net, images, ["logits"], device="cuda", keep_on_device=True)
    assert on_device["logits"].device.type == "cuda"
    for name in cpu:
        assert gpu[name].device.type == "cpu"
        assert torch.allclose(cpu[name], gpu[name], atol=1e-3, rtol=1e-3), name


def test_iter_layers_streams_one_layer_at_a_time(model, images, monkeypatch):
    full = extract(model, images, device="cpu")
    calls = []
    real = activations.extract

    def spy(m, x, layers=None, **kwargs):
        calls.append(list(layers))
        return real(m, x, layers, **kwargs)

    monkeypatch.setattr(activations, "extract", spy)
    stream = iter_layers(model, images, device="cpu", batch_size=16)
    assert inspect.isgenerator(stream) and calls == []       # lazy: nothing computed yet
    probe, value = next(stream)
    assert probe.name == "input" and calls == [["input"]]    # one layer per step
    got = {probe.name: value}
    for probe, value in stream:
        got[probe.name] = value
    assert all(len(c) == 1 for c in calls) and len(calls) == len(model.probe_layers)
    assert list(got) == list(full)
    for name in full:
        assert torch.allclose(got[name], full[name], atol=1e-5), name
    subset = [p.name for p, _ in iter_layers(model, images[:3], ["logits", "stem"], device="cpu")]
    assert subset == ["stem", "logits"]


def test_perturbed_neighbours_go_through_the_same_layers(model, images):
    n, k = 8, 5
    x = images[:n]
    g = torch.Generator().manual_seed(1)
    neighbours = x[:, None] + 0.05 * torch.randn(n, k, *x.shape[1:], generator=g)   # [N, K, C, H, W]
    flat = neighbours.reshape(n * k, *x.shape[1:])
    layers = ["input", "block1_1", "avgpool", "logits"]
    nb = {name: v.reshape(n, k, -1) for name, v in extract(model, flat, layers, device="cpu", batch_size=13).items()}
    # one call with points and neighbours together gives the same values as separate calls
    both = extract(model, torch.cat([x, flat]), layers, device="cpu", batch_size=64)
    alone = extract(model, x, layers, device="cpu")
    for name in layers:
        assert nb[name].shape[:2] == (n, k)
        assert torch.allclose(both[name][:n], alone[name], atol=1e-5), name
        assert torch.allclose(both[name][n:].reshape(n, k, -1), nb[name], atol=1e-5), name
        for j in (0, k - 1):   # neighbour j of every point, pushed on its own
            own = extract(model, neighbours[:, j], [name], device="cpu")[name]
            assert torch.allclose(nb[name][:, j], own, atol=1e-5), name
    assert torch.allclose(nb["input"], neighbours.flatten(2))
    # zero-size perturbations reproduce the points' activations exactly
    same = extract(model, x.repeat_interleave(2, 0), layers, device="cpu")
    for name in layers:
        assert torch.allclose(same[name].reshape(n, 2, -1), alone[name][:, None].expand(n, 2, -1), atol=1e-5)
    # small perturbations give nearby, distinct activations
    dist_nb = (nb["logits"] - alone["logits"][:, None]).norm(dim=-1)
    assert (dist_nb > 0).all() and (dist_nb < alone["logits"].norm(dim=-1, keepdim=True) + 1).all()


def _bn_model(name, width=4):
    """A zoo network with moved BatchNorm statistics and affine parameters (folding is then no
    identity)."""
    net = build_model(name, width=width, seed=0)
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
        net.train()
        for s in range(3):
            net(torch.randn(16, 1, 28, 28, generator=torch.Generator().manual_seed(s)) * 2 + 0.5)
    return net.eval()


def _close(a, b):
    """Equal to float32 round-off: the largest difference relative to the layer's largest value."""
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30)) < 1e-5


@pytest.mark.parametrize("name", ["vgg_small", "resnet_small", "plain_cnn"])
def test_inference_copy_gives_the_same_activations_to_round_off(name, images):
    net = _bn_model(name)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    fast = activations.inference_copy(net, [p.name for p in net.probe_layers])
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # the model itself unchanged
    norms = [m for m in fast.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms == [] and not fast.training  # every conv -> BN pair of the zoo folded; eval mode
    plain, ours = extract(net, images, device="cpu"), extract(fast, images, device="cpu")
    assert list(plain) == list(ours)
    for layer in plain:
        assert _close(ours[layer], plain[layer]), layer


def test_inference_copy_keeps_probed_convolutions_and_batch_norms(images):
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                              torch.nn.Conv2d(4, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.Flatten())
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.fill_(0.3)
            m.running_var.fill_(2.0)
    net.eval()
    fast = activations.inference_copy(net, keep=["0"])   # the first convolution is a probe layer
    assert isinstance(fast[1], torch.nn.BatchNorm2d) and isinstance(fast[4], torch.nn.Identity)
    layers = ["0", "2", "4", "5"]
    plain, ours = extract(net, images, layers, device="cpu"), extract(fast, images, layers, device="cpu")
    assert torch.equal(ours["0"], plain["0"])                # a probed convolution keeps its output
    for layer in layers:
        assert _close(ours[layer], plain[layer]), layer


def test_neighbourhood_activations_are_the_points_then_their_neighbours(model, images):
    n, k = 6, 4
    x = images[:n]
    neighbours = x[:, None] + 0.05 * torch.randn(n, k, *x.shape[1:], generator=torch.Generator().manual_seed(2))
    layers = ["block1_1", "avgpool", "logits"]
    both = activations.neighbourhood_activations(model, x, neighbours, layers, device="cpu", batch_size=7)
    points = extract(model, x, layers, device="cpu")
    nb = extract(model, neighbours.flatten(0, 1), layers, device="cpu")
    for layer in layers:
        assert both[layer].shape == (n, k + 1, points[layer].shape[1])
        assert torch.allclose(both[layer][:, 0], points[layer], atol=1e-5), layer
        assert torch.allclose(both[layer][:, 1:], nb[layer].reshape(n, k, -1), atol=1e-5), layer
    with pytest.raises(ValueError, match=r"neighbours must be a tensor \[n, K, C, H, W\]"):
        activations.neighbourhood_activations(model, x, neighbours.flatten(0, 1), layers, device="cpu")
    with pytest.raises(ValueError, match=r"points must be a tensor \[n, C, H, W\] = \[6, 1, 28, 28\]"):
        activations.neighbourhood_activations(model, x[:5], neighbours, layers, device="cpu")


def test_curvature_profile_forward_route_equals_the_plain_route(images, monkeypatch):
    """What curvature_profile pushes through its fast route (the folded copy, points with their
    neighbours) equals extract on the model itself, to float32 round-off, for both modes."""
    from latentgeom import profiles
    net = _bn_model("vgg_small")
    calls = []
    real = profiles.neighbourhood_activations

    def spy(model, points, neighbours, layers, **kwargs):
        out = real(model, points, neighbours, layers, **kwargs)
        calls.append((points, neighbours, layers, out))
        return out

    monkeypatch.setattr(profiles, "neighbourhood_activations", spy)
    geometry = profiles.GeometryConfig(q=3, modes=("paper", "robust"), id_resamples=2, device="cpu")
    frame = profiles.curvature_profile(net, images[:16], geometry, progress=False)
    assert len(calls) == 2 and list(frame["layer"]) == [p.name for p in net.probe_layers]
    for points, neighbours, layers, out in calls:
        assert "input" not in layers and neighbours.shape[:2] == (16, 7)
        plain_points = extract(net, points, layers, device="cpu")
        plain_nb = extract(net, neighbours.flatten(0, 1), layers, device="cpu")
        for layer in layers:
            assert _close(out[layer][:, 0], plain_points[layer]), layer
            assert _close(out[layer][:, 1:], plain_nb[layer].reshape(16, 7, -1)), layer


def test_curvature_profile_says_which_layers_it_can_measure(images):
    """Issue 29: per layer and mode, the input directions the neighbourhoods span next to d,
    the robust share resolved, and a measurable flag; one warning names the layers that are not
    measurable (perturbations of q singular values of a one-channel image span q directions)."""
    import latentgeom as lg
    from latentgeom import profiles
    net = _bn_model("vgg_small")
    geometry = profiles.GeometryConfig(q=3, modes=("paper", "robust"), id_resamples=2, device="cpu")
    with pytest.warns(lg.UnresolvedCurvatureWarning, match="not measurable at") as caught:
        frame = profiles.curvature_profile(net, images, geometry, progress=False)
    assert len(caught) == 1                                       # one warning, not one per chunk
    latent = frame[frame["layer"] != "input"]
    assert (latent["dirs_paper"] == 3).all() and (latent["dirs_robust"] == 3).all()
    assert frame.loc[frame["layer"] == "input", "dirs_paper"].item() >= frame["d_paper"].iloc[0]
    assert (latent["measurable_paper"] == (latent["d_paper"] <= 3)).all()
    assert frame["resolved_paper"].isna().all() and frame["resolved_robust"].between(0, 1).all()
    robust_ok = (frame["d_robust"] <= frame["dirs_robust"]) & (frame["resolved_robust"] >= 0.5)
    assert (frame["measurable_robust"] == robust_ok).all()
    assert not frame["measurable_paper"].all()                    # some layer's d exceeds 3 here


@pytest.mark.filterwarnings("ignore::latentgeom.UnresolvedCurvatureWarning")  # q = 3 on one channel: expected
def test_what_depends_on_the_sample_alone_is_measured_once_per_sample(images):
    """The input layer's curvature, the perturbed copies and the directions they span depend on
    the images alone: a second network on the same sample reuses them, with the numbers a fresh
    computation gives; another sample (or another robust seed) is computed afresh."""
    from latentgeom import profiles, sample_geometry as sg
    geometry = profiles.GeometryConfig(q=3, modes=("paper", "robust"), id_resamples=2, device="cpu")
    sg.INPUT_CURVATURES.clear()
    sg.PERTURBATIONS.clear()
    a = profiles.curvature_profile(_bn_model("vgg_small"), images, geometry, progress=False)
    b = profiles.curvature_profile(_bn_model("resnet_small"), images, geometry, progress=False)
    # paper and robust, for the first network only
    assert sg.INPUT_CURVATURES.computed == 2 and sg.PERTURBATIONS.computed == 2
    sg.INPUT_CURVATURES.clear()
    sg.PERTURBATIONS.clear()
    fresh = profiles.curvature_profile(_bn_model("resnet_small"), images, geometry, progress=False)
    pd.testing.assert_frame_equal(b, fresh)
    columns = [c for c in a if c.endswith(("_paper", "_robust")) and not c.startswith(("scale_free", "bend"))]
    pd.testing.assert_frame_equal(a.loc[a["layer"] == "input", columns], b.loc[b["layer"] == "input", columns])
    other = profiles.curvature_profile(_bn_model("vgg_small"), images[:-1], geometry, progress=False)
    assert sg.INPUT_CURVATURES.computed == 4 and other["layer"].iloc[0] == "input"  # another sample
    assert sg.PERTURBATIONS.computed == 4
    reseeded = profiles.curvature_profile(_bn_model("vgg_small"), images, replace(geometry, seed=1), progress=False)
    assert sg.PERTURBATIONS.computed == 5  # the robust copies follow the seed; the paper masks do not
    assert not np.allclose(reseeded["mapc_robust"].iloc[1:], a["mapc_robust"].iloc[1:])


def test_recent_samples_keeps_the_newest_within_its_limits():
    from latentgeom.sample_geometry import RecentSamples
    recent = RecentSamples(entries=2, max_bytes=100)
    small = lambda n: (lambda: np.zeros(n, dtype=np.uint8))  # noqa: E731
    for key in "abc":
        recent.get((key,), small(10))
    recent.get(("b",), small(10))                    # kept: not computed again
    assert recent.computed == 3
    recent.get(("a",), small(10))                    # dropped (oldest of three): computed again
    assert recent.computed == 4
    big = recent.get(("big",), small(1000))          # over max_bytes alone: returned, not kept
    assert big.shape == (1000,) and recent.get(("big",), small(1000)) is not big
    assert recent.computed == 6
    recent.get(("x",), small(60))
    recent.get(("y",), small(60))                    # 120 bytes > 100: x goes
    recent.get(("y",), small(60))                    # kept
    assert recent.computed == 8
    recent.get(("x",), small(60))                    # computed again
    assert recent.computed == 9
