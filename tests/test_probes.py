"""latentgeom.networks.probes / external: any torch module through the pipeline, checked against
torchvision's own feature extraction (an independent FX-traced implementation)."""
from __future__ import annotations

import math

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models.feature_extraction import create_feature_extractor

import latentgeom as lg
from latentgeom.networks.activations import extract, iter_layers
from latentgeom.networks.external import TorchvisionConfig, as_trained, torchvision_model, train_torchvision
from latentgeom.networks.models import build_model
from latentgeom.networks.probes import default_layers, fit_images, layer_names, probe_layers
from latentgeom.profiles import GeometryConfig, curvature_profile, layer_dimensions, profile


def _moved_batchnorm(model, shape, seed=0):
    """Random weights with non-trivial BatchNorm statistics, in eval mode."""
    model.train()
    with torch.no_grad():
        for s in range(2):
            model(torch.randn(8, *shape, generator=torch.Generator().manual_seed(seed + s)) * 2 + 0.5)
    return model.eval()


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return _moved_batchnorm(torchvision.models.resnet18(num_classes=10), (3, 32, 32))


@pytest.fixture(scope="module")
def vit():
    torch.manual_seed(0)
    return torchvision.models.VisionTransformer(image_size=32, patch_size=8, num_layers=3, num_heads=2,
                                                hidden_dim=16, mlp_dim=32, num_classes=10).eval()


def _images(n=6, c=3, size=32, seed=1):
    return torch.randn(n, c, size, size, generator=torch.Generator().manual_seed(seed))


def _reference(model, images, names):
    """The same modules' outputs through torchvision's FX feature extractor."""
    extractor = create_feature_extractor(model, {n: n for n in names if n != "input"})
    with torch.no_grad():
        out = extractor(images)
    out["input"] = images
    return out


def test_resnet18_equals_torchvision_feature_extraction(resnet):
    x = _images()
    names = default_layers(resnet)
    assert names == ["input", "maxpool", "layer1.0", "layer1.1", "layer2.0", "layer2.1", "layer3.0", "layer3.1",
                     "layer4.0", "layer4.1", "avgpool", "fc"]
    acts = extract(resnet, x, device="cpu", batch_size=4)   # two batches: the second one stops early
    ref = _reference(resnet, x, names + ["layer2", "layer1.0.bn2"])
    assert list(acts) == names
    for name in names:
        assert acts[name].shape == ref[name].flatten(1).shape and acts[name].dtype == torch.float32
        assert torch.allclose(acts[name], ref[name].flatten(1), atol=1e-5), name
    # stage names and inner modules whose output the network later changes in place (out += identity)
    more = extract(resnet, x, ["layer2", "layer1.0.bn2"], device="cpu")
    for name in more:
        assert torch.allclose(more[name], ref[name].flatten(1), atol=1e-5), name
    with torch.no_grad():
        assert torch.allclose(acts["fc"], resnet(x), atol=1e-5)
    assert all(len(m._forward_hooks) == 0 for m in resnet.modules())


def test_small_vit_equals_torchvision_feature_extraction(vit):
    x = _images()
    names = default_layers(vit)
    blocks = [f"encoder.layers.encoder_layer_{i}" for i in range(3)]
    assert names == ["input", "conv_proj", *blocks, "encoder.ln", "heads"]
    ref = _reference(vit, x, names)
    acts = extract(vit, x, device="cpu", batch_size=4)
    assert acts[blocks[0]].shape == (6, 17 * 16)               # [B, tokens, dim] flattened
    for name in names:
        assert torch.allclose(acts[name], ref[name].flatten(1), atol=1e-5), name
    cls = extract(vit, x, ["encoder.ln", blocks[1]], tokens="cls", device="cpu")
    mean = extract(vit, x, [blocks[1]], tokens="mean", device="cpu")
    assert torch.allclose(cls["encoder.ln"], ref["encoder.ln"][:, 0], atol=1e-5)   # what the head reads
    assert torch.allclose(cls[blocks[1]], ref[blocks[1]][:, 0], atol=1e-5)
    assert torch.allclose(mean[blocks[1]], ref[blocks[1]].mean(1), atol=1e-5)
    assert torch.equal(cls["encoder.ln"], extract(vit, x, ["encoder.ln"], tokens="cls", device="cpu")["encoder.ln"])
    with torch.no_grad():
        assert torch.allclose(vit.heads(cls["encoder.ln"]), acts["heads"], atol=1e-5)


@pytest.mark.slow  # a VGG's classifier has 10^8 weights whatever its features: seconds to initialise
def test_vgg_default_layers_run():
    cfg = [8, "M", 16, "M", 512, "M"]
    model = torchvision.models.VGG(torchvision.models.vgg.make_layers(cfg), num_classes=10).eval()
    names = default_layers(model)
    assert names == ["input", "features.2", "features.5", "features.8", "avgpool", "classifier.1",
                     "classifier.4", "classifier.6"]
    x = _images(2)
    acts = extract(model, x, device="cpu")
    ref = _reference(model, x, names)
    for name in names:
        assert torch.allclose(acts[name], ref[name].flatten(1), atol=1e-5), name


def test_unknown_layer_lists_the_valid_ones(resnet, vit):
    with pytest.raises(ValueError, match=r"unknown layer\(s\) \['layer5'\]; valid: \['input', 'conv1', 'bn1'.*"
                                         r"'layer4.1.bn2', 'avgpool', 'fc'\]"):
        extract(resnet, _images(2), ["input", "layer5"], device="cpu")
    with pytest.raises(ValueError, match=r"unknown layer\(s\) \['blocks.0'\]; valid: \['input', 'conv_proj'"):
        next(iter_layers(vit, _images(2), ["blocks.0"], device="cpu"))
    with pytest.raises(ValueError, match=r"unknown layer\(s\) \['fc'\]; valid: \['input', 'stem'"):
        probe_layers(build_model("resnet_small", width=2), ["fc"])
    with pytest.raises(ValueError, match="layers is empty"):
        probe_layers(resnet, [])
    with pytest.raises(ValueError, match="tokens must be one of"):
        extract(vit, _images(2), tokens="first", device="cpu")


def test_relative_depth(resnet):
    full = {p.name: p.relative_depth for p in probe_layers(resnet)}
    assert full["input"] == 0 and full["fc"] == 1
    assert list(full.values()) == sorted(full.values())
    subset = probe_layers(resnet, ["fc", "layer2.0", "input"])                  # asked out of order
    assert [(p.name, p.relative_depth) for p in subset] == [(n, full[n]) for n in ("input", "layer2.0", "fc")]
    own = probe_layers(resnet, ["layer4", "layer1", "layer2", "layer3"])        # outside the default list
    assert [(p.name, p.relative_depth) for p in own] == [("layer1", 0), ("layer2", 1 / 3), ("layer3", 2 / 3),
                                                         ("layer4", 1)]
    explicit = probe_layers(resnet, [lg.ProbeLayer("layer3", 0.42), "layer1"])
    assert [(p.name, p.relative_depth) for p in explicit] == [("layer1", 0.0), ("layer3", 0.42)]
    pairs = [(p.name, v.shape[1]) for p, v in iter_layers(resnet, _images(2), ["fc", "layer1"], device="cpu")]
    assert pairs == [("layer1", 64 * 8 * 8), ("fc", 10)]


def test_library_models_keep_their_probe_layers():
    model = build_model("vgg_small", width=2)
    assert probe_layers(model) == model.probe_layers
    assert default_layers(model) == layer_names(model) == [p.name for p in model.probe_layers]


def test_any_module_defaults_to_its_children():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(inplace=True), nn.Flatten(), nn.Linear(4 * 26 * 26, 5)).eval()
    x = _images(5, c=1, size=28)
    assert default_layers(model) == ["input", "0", "1", "2", "3"]
    acts = extract(model, x, device="cpu", batch_size=2)
    with torch.no_grad():
        conv = model[0](x)
    # "0" is read before the in-place ReLU overwrites it
    assert torch.allclose(acts["0"], conv.flatten(1), atol=1e-6) and (acts["0"] < 0).any()
    assert torch.allclose(acts["1"], conv.relu().flatten(1), atol=1e-6)


def test_forward_stops_after_the_last_wanted_layer_once_checked():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10).eval()
    runs = []
    model.layer4.register_forward_hook(lambda *_: runs.append(1))
    x = _images(4)
    first = extract(model, x, ["layer1", "layer2.0"], batch_size=2, device="cpu")
    assert len(runs) == 1          # batch 1 runs in full (every layer checked to run once), batch 2 stops
    again = extract(model, x, ["layer2.0", "layer1"], batch_size=4, device="cpu")
    assert len(runs) == 1          # already checked: stops after layer2.0
    assert all(torch.equal(first[k], again[k]) for k in first)


def test_modules_run_twice_or_never_are_refused(resnet):
    with pytest.raises(ValueError, match=r"'layer1.0.relu' runs 2 times in one forward pass.*probe 'layer1.0'"):
        extract(resnet, _images(2), ["layer1.0.relu"], device="cpu")

    class Unused(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.spare = nn.Conv2d(1, 2, 3), nn.Conv2d(1, 2, 3)

        def forward(self, x):
            return self.used(x)

    with pytest.raises(ValueError, match=r"layer\(s\) \['spare'\] did not run"):
        extract(Unused(), _images(2, c=1), device="cpu")


def test_non_tensor_outputs_are_refused(vit):
    with pytest.raises(ValueError, match=r"'encoder.layers.encoder_layer_0.self_attention' outputs a tuple of 2: "
                                         r"Tensor\[2, 17, 16\], NoneType, not a tensor; probe one of its submodules"):
        extract(vit, _images(2), ["encoder.layers.encoder_layer_0.self_attention"], device="cpu")


def test_images_that_do_not_fit_say_how_to_adapt(resnet, vit):
    grey = _images(3, c=1, size=28)
    with pytest.raises(ValueError, match=r"1 channel\(s\) but the model's first convolution 'conv1' takes 3: .*"
                                         r"fit_images\(images, channels=3\).*in_channels=1"):
        extract(resnet, grey, device="cpu")
    assert extract(resnet, fit_images(grey, channels=3), ["fc"], device="cpu")["fc"].shape == (3, 10)
    with pytest.raises(ValueError, match=r"images are 28x28 but the model takes 32x32 .*fit_images\(images, size=32\)"):
        extract(vit, fit_images(grey, channels=3), device="cpu")
    assert extract(vit, fit_images(grey, channels=3, size=32), ["heads"], device="cpu")["heads"].shape == (3, 10)
    tiny = torchvision.models.VGG(torchvision.models.vgg.make_layers([4, "M", 4, "M", 512, "M"] + ["M"] * 3),
                                  num_classes=10, init_weights=False)
    with pytest.raises(ValueError, match=r"could not run on images of shape \[3, 28, 28\]"):
        extract(tiny, fit_images(grey, channels=3), device="cpu")


def test_fit_images():
    grey = _images(2, c=1, size=28)
    rgb = fit_images(grey, channels=3)
    assert rgb.shape == (2, 3, 28, 28) and all(torch.equal(rgb[:, c], grey[:, 0]) for c in range(3))
    assert torch.allclose(fit_images(rgb, channels=1), grey)
    assert fit_images(grey, size=32).shape == (2, 1, 32, 32)
    assert torch.equal(fit_images(grey, size=28), grey)
    flat = torch.full((1, 1, 8, 8), 0.5)
    assert torch.allclose(fit_images(flat, size=4), torch.full((1, 1, 4, 4), 0.5))   # antialiased shrink keeps mean
    norm = fit_images(flat, channels=3, mean=(0.5, 0.25, 0.0), std=(1.0, 0.5, 0.25))
    assert torch.allclose(norm[0, :, 0, 0], torch.tensor([0.0, 0.5, 2.0]))
    for source, kwargs, match in ((rgb, dict(channels=2), "cannot turn 3 channels into 2"),
                                  (grey, dict(size=0), "size must be"),
                                  (grey, dict(mean=(0.5,)), "mean and std must be given together"),
                                  (grey, dict(mean=(0.5, 0.5), std=(1, 1)), "one value per channel"),
                                  (grey[0], {}, r"images must be a tensor \[N, C, H, W\]")):
        with pytest.raises(ValueError, match=match):
            fit_images(source, **kwargs)


def test_torchvision_model_adapts_the_first_convolution():
    a = torchvision_model("resnet18", in_channels=1, num_classes=7, seed=3)
    b = torchvision_model("resnet18", in_channels=1, num_classes=7, seed=3)
    assert a.conv1.in_channels == 1 and a.conv1.stride == (2, 2) and a.fc.out_features == 7
    assert all(torch.equal(a.state_dict()[k], v) for k, v in b.state_dict().items())     # seeded
    assert extract(a.eval(), _images(2, c=1, size=28), ["layer4.1", "fc"], device="cpu")["layer4.1"].shape == (2, 512)
    with pytest.raises(ValueError, match=r"architecture must be one of \[.*'resnet18'"):
        torchvision_model("resnet17")
    with pytest.raises(ValueError, match="checkpoint must be the path of a state_dict file"):
        TorchvisionConfig("resnet18", checkpoint="/no/such/file.pt")


@pytest.mark.slow  # vit_b_16 has 8.6e7 weights
def test_torchvision_vit_takes_an_image_size():
    v = torchvision_model("vit_b_16", in_channels=1, image_size=32)
    assert v.conv_proj.in_channels == 1 and v.image_size == 32
    assert default_layers(v)[-3:] == ["encoder.layers.encoder_layer_11", "encoder.ln", "heads"]
    with pytest.raises(ValueError, match="torchvision could not build 'vit_b_16'"):
        torchvision_model("vit_b_16", image_size=28)


def test_profiles_run_end_to_end_on_a_torchvision_model(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTGEOM_CACHE", str(tmp_path / "models"))
    model = _moved_batchnorm(torchvision_model("resnet18", in_channels=1), (1, 28, 28))
    x = _images(24, c=1, size=28, seed=4)
    layers = ["input", "layer1", "layer3.1", "avgpool", "fc"]
    dims = layer_dimensions(model, x, layers=layers, id_resamples=2, device="cpu")
    assert list(dims["layer"]) == layers and list(dims["width"]) == [784, 64 * 7 * 7, 256 * 2 * 2, 512, 10]
    assert dims["relative_depth"].is_monotonic_increasing
    assert dims["id"].map(math.isfinite).all() and (dims["id"] > 0).all()
    geometry = GeometryConfig(q=2, modes=("paper", "robust"), id_resamples=2, device="cpu")
    curv = curvature_profile(model, x, geometry, layers=layers, progress=False)
    assert list(curv["layer"]) == layers
    for mode in ("paper", "robust"):
        assert curv[f"mapc_{mode}"].map(math.isfinite).all() and (curv[f"mapc_{mode}"] >= 0).all()
    cached = profile(model, x, geometry, layers=layers, progress=False)      # a bare module, cached by weights
    assert cached["model"].iloc[0] == "ResNet" and list(cached["layer"]) == layers
    assert cached["mapc_paper"].tolist() == pytest.approx(curv["mapc_paper"].tolist())
    assert list((tmp_path / "profiles").glob("curvature-*.json"))
    assert as_trained(model).config.key() == as_trained(model).config.key()
    dims2 = lg.dimension_profile(model, x, layers=["fc"], id_resamples=2, device="cpu")
    assert dims2["layer"].tolist() == ["fc"]


@pytest.mark.slow
def test_train_torchvision_caches_and_loads_checkpoints(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTGEOM_CACHE", str(tmp_path / "models"))
    config = TorchvisionConfig("resnet18", n_train=65, n_test=20, batch_size=32)   # last batch of 1 skipped
    trained = train_torchvision(config, progress=False)
    assert trained.epoch == 1 and 0 <= trained.test_accuracy <= 1 and len(trained.history) == 1
    again = train_torchvision(config, progress=False)                                # from the model cache
    assert all(torch.equal(again.model.state_dict()[k], v) for k, v in trained.model.state_dict().items())
    path = tmp_path / "weights.pt"
    torch.save(trained.model.state_dict(), path)
    loaded = train_torchvision(TorchvisionConfig("resnet18", n_test=20, checkpoint=str(path)), progress=False)
    assert loaded.epoch is None and loaded.test_accuracy == pytest.approx(trained.test_accuracy)
    images, _ = config.load_images("test", n=4)
    assert torch.equal(extract(loaded.model, images, ["fc"])["fc"], extract(trained.model, images, ["fc"])["fc"])
    monkeypatch.setenv("LATENTGEOM_NO_TRAIN", "1")  # cached: still loads; missing: an error, not a training
    assert train_torchvision(config, progress=False).test_accuracy == trained.test_accuracy
    from latentgeom.storage import CacheMiss
    with pytest.raises(CacheMiss, match="LATENTGEOM_NO_TRAIN"):
        train_torchvision(TorchvisionConfig("resnet18", n_train=65, n_test=20, batch_size=32, seed=1), progress=False)
    monkeypatch.delenv("LATENTGEOM_NO_TRAIN")
    torch.save(torchvision_model("resnet34").state_dict(), tmp_path / "other.pt")
    with pytest.raises(ValueError, match="does not fit ResNet"):
        train_torchvision(TorchvisionConfig("resnet18", checkpoint=str(tmp_path / "other.pt")), progress=False)
