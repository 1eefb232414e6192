"""latentgeom.networks.models: every family builds, runs, exposes ordered probe layers; knobs and errors."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from latentgeom import MODELS
from latentgeom.networks.models import PAPER_MODELS, SMALL_MODELS, ProbedModel, build_model


def _input_spec(name):
    """Small families on Fashion-MNIST-like input, the paper's on CIFAR-like input."""
    return dict(in_channels=1, image_size=28) if name in SMALL_MODELS else dict(in_channels=3, image_size=32)


def _batch(name, n=2, seed=0):
    spec = _input_spec(name)
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, spec["in_channels"], spec["image_size"], spec["image_size"], generator=g)


def _n_params(model):
    return sum(p.numel() for p in model.parameters())


def _stage_outputs(model, x):
    """Each stage's output, computed by running the stages by hand."""
    outs = {"input": x}
    for name, stage in model.stages.items():
        x = stage(x)
        outs[name] = x
    return outs


def test_model_lists():
    assert set(SMALL_MODELS) | set(PAPER_MODELS) == set(MODELS)
    assert len(set(MODELS)) == len(MODELS)
    # the paper's CIFAR networks are all there
    assert {"resnet18", "resnet50", "vgg13", "vgg16", "vgg19"} <= set(MODELS)


@pytest.mark.parametrize("name", MODELS)
def test_every_model_builds_runs_and_has_ordered_probe_layers(name):
    num_classes = 100 if name == "resnet18" else 10  # also a CIFAR-100 head
    model = build_model(name, num_classes=num_classes, **_input_spec(name))
    assert isinstance(model, ProbedModel)
    x = _batch(name)

    model.eval()
    with torch.no_grad():
        logits = model(x)
        outs = _stage_outputs(model, x)
    assert logits.shape == (2, num_classes) and torch.isfinite(logits).all()
    assert torch.allclose(outs["logits"], logits)

    probes = model.probe_layers
    names = [p.name for p in probes]
    assert names[0] == "input" and names[-1] == "logits"
    assert len(names) == len(set(names)) >= 4
    assert names[1:] == list(model.stages.keys())          # one probe layer per stage, in forward order
    depths = [p.relative_depth for p in probes]
    assert depths[0] == 0.0 and depths[-1] == 1.0
    assert all(0.0 <= d <= 1.0 for d in depths)
    assert all(a < b for a, b in zip(depths, depths[1:]))  # strictly increasing
    assert model.probe_module("input") is None
    for p in probes[1:]:
        assert model.probe_module(p.name) is model.stages[p.name]
        assert outs[p.name].shape[0] == 2
    assert model.n_mixable == len(model.stages) - 1

    # one training step works on a 2-image batch (BatchNorm in train mode included)
    model.train()
    loss = nn.functional.cross_entropy(model(x), torch.tensor([0, 1]))
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_build_is_deterministic_under_seed():
    a, b, c = (build_model("resnet_small", width=4, seed=s) for s in (3, 3, 4))
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


@pytest.mark.parametrize("name", MODELS)
def test_width_changes_parameter_count(name):
    spec = _input_spec(name)
    counts = [_n_params(build_model(name, width=w, **spec)) for w in (4, 8)]
    assert counts[0] < counts[1]


@pytest.mark.parametrize("name", SMALL_MODELS)
def test_depth_changes_parameter_count_and_layers(name):
    shallow, deep = (build_model(name, width=4, depth=d) for d in (1, 3))
    assert _n_params(shallow) < _n_params(deep)
    if name != "vgg_small":  # vgg_small's depth is convolutions per block: same probe layers
        assert len(shallow.probe_layers) < len(deep.probe_layers)
    with torch.no_grad():
        assert deep.eval()(torch.randn(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize("name, expected", [
    # The standard CIFAR ResNets (3x3 stem, no max-pool, 10 classes) at the paper's width 64.
    ("resnet18", 11_173_962),
    ("resnet50", 23_520_842),
    # CIFAR VGG16 with BatchNorm, bias-free convolutions and one linear classifier.
    ("vgg16", 14_724_042),
])
def test_paper_models_have_the_standard_size(name, expected):
    assert _n_params(build_model(name, in_channels=3, image_size=32, width=64)) == expected


def test_paper_probe_layers():
    r18 = [p.name for p in build_model("resnet18", in_channels=3, image_size=32).probe_layers]
    assert r18 == ["input", "stem"] + [f"block{s}_{b}" for s in range(1, 5) for b in (1, 2)] + ["avgpool", "logits"]
    r50 = [p.name for p in build_model("resnet50", in_channels=3, image_size=32).probe_layers]
    assert len(r50) == 2 + 3 + 4 + 6 + 3 + 2
    v16 = [p.name for p in build_model("vgg16", in_channels=3, image_size=32).probe_layers]
    assert v16 == ["input", "pool1", "pool2", "pool3", "pool4", "pool5", "avgpool", "logits"]


def test_manifold_mixup_hook():
    model = build_model("resnet_small", width=4).eval()
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        plain = model(x)
        for k in range(model.n_mixable + 1):
            assert torch.allclose(model(x, mix=(k, lambda h: h)), plain, atol=1e-6)
        mixed = model(x, mix=(2, lambda h: 0.5 * h + 0.5 * h.flip(0)))
    assert not torch.allclose(mixed, plain)


def test_unknown_model_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown model 'resnet34'") as err:
        build_model("resnet34")
    for name in MODELS:
        assert name in str(err.value)


@pytest.mark.parametrize("kwargs, match", [
    (dict(width=0), "width must be an integer >= 1"),
    (dict(width=-4), "width must be an integer >= 1"),
    (dict(width=2.5), "width must be an integer >= 1"),
    (dict(width="16"), "width must be an integer >= 1"),
    (dict(width=True), "width must be an integer >= 1"),
    (dict(depth=0), "depth must be a positive integer"),
    (dict(depth=1.5), "depth must be a positive integer"),
    (dict(num_classes=1), "num_classes must be an integer >= 2"),
    (dict(in_channels=0), "in_channels must be an integer >= 1"),
    (dict(image_size=4), "image_size must be an integer >= 8"),
])
def test_bad_knobs_are_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_model("plain_cnn", **kwargs)


def test_depth_is_refused_for_fixed_depth_paper_models():
    with pytest.raises(ValueError, match="fixed depth"):
        build_model("resnet18", in_channels=3, image_size=32, depth=2)


def test_probed_model_contract():
    with pytest.raises(ValueError, match="last stage must be named 'logits'"):
        ProbedModel([("fc", nn.Linear(4, 2))])
    model = ProbedModel([("hidden", nn.Linear(4, 3)), ("logits", nn.Linear(3, 2))])
    assert [(p.name, p.relative_depth) for p in model.probe_layers] == [("input", 0.0), ("hidden", 0.5),
                                                                       ("logits", 1.0)]
    with pytest.raises(ValueError, match="unknown layer 'nope'.*hidden"):
        model.probe_module("nope")
