"""latentgeom.networks.training: determinism, the untrained epoch 0, the model cache, config validation, options.

Tiny configs (a few hundred Fashion-MNIST images, one epoch, the smallest networks) and a model
cache in a temporary folder, so the repository's own ``.cache/models`` is never touched.
"""
from __future__ import annotations

import dataclasses
import warnings

import pytest
import torch

from latentgeom.networks import model_cache as cache, training
from latentgeom.networks.models import build_model
from latentgeom.paths import data_dir, model_cache_dir
from latentgeom.networks.training import TrainConfig, TrainedModel, load_checkpoint, train

pytestmark = pytest.mark.skipif(not (data_dir() / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").is_file(),
                                reason="Fashion-MNIST missing (run `make data`)")

BASE = dict(model="mlp", width=2, n_train=256, epochs=1, batch_size=64, n_test=100, seed=0)


@pytest.fixture(scope="module", autouse=True)
def tmp_cache(tmp_path_factory):
    """Every test of this module caches models in a fresh temporary folder."""
    folder = tmp_path_factory.mktemp("model-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LATENTGEOM_CACHE", str(folder))
        yield folder


def _config(**overrides) -> TrainConfig:
    return TrainConfig(**{**BASE, **overrides})


def _same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _train(config, **kwargs) -> TrainedModel:
    return train(config, device="cpu", progress=False, **kwargs)


@pytest.fixture(scope="module")
def trained(tmp_cache):
    """One cached training run shared by the cache tests (checkpoint at epoch 0 too)."""
    config = _config(checkpoint_epochs=(0,))
    return config, _train(config)


def test_cache_lives_in_the_temporary_folder(tmp_cache):
    assert model_cache_dir() == tmp_cache


def test_training_result(trained):
    config, result = trained
    assert isinstance(result, TrainedModel) and result.config == config and result.epoch == 1
    assert 0.0 <= result.train_accuracy <= 1.0 and 0.0 <= result.test_accuracy <= 1.0
    assert len(result.history) == 1
    record = result.history[0]
    assert record["epoch"] == 1 and record["loss"] > 0 and torch.isfinite(torch.tensor(record["loss"]))
    assert record["train_accuracy"] == result.train_accuracy and record["test_accuracy"] == result.test_accuracy
    assert not result.model.training  # returned in eval mode
    assert not _same_weights(result.model, training.new_model(config))  # it did train


def test_train_accuracy_is_scored_on_the_first_training_images(monkeypatch):
    """train_accuracy is the accuracy on the first TRAIN_ACCURACY_IMAGES training images (all of
    them when fewer), test_accuracy on the whole test split."""
    monkeypatch.setattr(training, "TRAIN_ACCURACY_IMAGES", 100)
    config = _config(seed=5)
    result = _train(config, cache_models=False)
    images, labels = training._training_data(config)
    test_images, test_labels = training.load_tensors(config.dataset, "test", n=config.n_test, seed=config.seed)
    assert result.train_accuracy == training.accuracy(result.model, images[:100], labels[:100], "cpu")
    assert result.test_accuracy == training.accuracy(result.model, test_images, test_labels, "cpu")
    monkeypatch.setattr(training, "TRAIN_ACCURACY_IMAGES", 10**6)
    assert _train(config, cache_models=False).train_accuracy == training.accuracy(result.model, images, labels, "cpu")


def test_same_seed_gives_identical_weights_and_accuracy(trained):
    config, first = trained
    again = _train(config, cache_models=False)
    assert _same_weights(first.model, again.model)
    assert again.train_accuracy == first.train_accuracy and again.test_accuracy == first.test_accuracy
    assert again.history[0]["loss"] == first.history[0]["loss"]
    other = _train(dataclasses.replace(config, seed=1), cache_models=False)
    assert not _same_weights(first.model, other.model)


def test_epoch_zero_is_the_untrained_network(trained):
    config, _ = trained
    fresh = build_model("mlp", width=2, seed=0)
    untrained = _train(_config(epochs=0), cache_models=False)
    assert untrained.epoch == 0 and untrained.history == []
    assert _same_weights(untrained.model, fresh)
    assert 0.0 <= untrained.test_accuracy <= 1.0
    # the checkpoint at epoch 0 of a trained config is the same untrained network
    checkpoint = load_checkpoint(config, 0, device="cpu", train_if_missing=False)
    assert checkpoint.epoch == 0 and _same_weights(checkpoint.model, fresh)
    final = load_checkpoint(config, 1, device="cpu", train_if_missing=False)
    assert not _same_weights(final.model, fresh)


def test_second_train_comes_from_the_cache(trained, monkeypatch):
    config, first = trained
    assert cache.path_for(config.key(), 1).is_file() and cache.path_for(config.key(), 0).is_file()

    def no_training(*_args, **_kwargs):
        raise AssertionError("retrained although the model is cached")

    monkeypatch.setattr(training, "_training_data", no_training)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean cache hit warns about nothing
        cached = _train(config)
    assert _same_weights(cached.model, first.model)
    assert cached.train_accuracy == first.train_accuracy and cached.test_accuracy == first.test_accuracy
    assert cached.history == first.history and cached.epoch == 1
    # checkpoint epochs do not change the key, so the same file serves a config without them
    assert _same_weights(_train(dataclasses.replace(config, checkpoint_epochs=())).model, first.model)


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty"])
def test_corrupt_cache_file_warns_and_retrains(trained, damage):
    config, first = trained
    path = cache.path_for(config.key(), config.epochs)
    raw = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "flip":
        body = bytearray(raw)
        body[-100] ^= 0xFF
        path.write_bytes(bytes(body))
    elif damage == "garbage":
        path.write_bytes(b"this is not a model\n" * 10)
    else:
        path.write_bytes(b"")
    with pytest.warns(RuntimeWarning, match=f"{path.name} is unusable"):
        again = _train(config)
    assert _same_weights(again.model, first.model)      # retrained, deterministically
    assert path.is_file()                                # and cached again, intact
    assert cache.load(config.key(), config.epochs)["epoch"] == 1


def test_cache_roundtrip_and_atomic_files(tmp_path):
    payload = {"state_dict": {"w": torch.arange(5.0)}, "epoch": 3}
    path = cache.save("k" * 24, 3, payload, directory=tmp_path)
    assert path == cache.path_for("k" * 24, 3, tmp_path) and path.name.endswith("-e0003.pt")
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp files left
    loaded = cache.load("k" * 24, 3, directory=tmp_path)
    assert torch.equal(loaded["state_dict"]["w"], payload["state_dict"]["w"]) and loaded["epoch"] == 3
    assert cache.load("k" * 24, 4, directory=tmp_path) is None


def test_cache_key():
    config = _config()
    key = config.key()
    assert len(key) == 24 and all(c in "0123456789abcdef" for c in key)
    assert _config().key() == key
    assert _config(checkpoint_epochs=(0, 1)).key() == key  # checkpoints do not change the weights
    assert _config(lr=0.05).key() == _config(lr=5e-2).key()
    assert _config(momentum=0.9).key() == key
    # equal configs share one key whatever the numeric type
    assert TrainConfig(**{**BASE, "lr": 1}).key() == TrainConfig(**{**BASE, "lr": 1.0}).key()
    changes = dict(dataset="mnist", model="plain_cnn", width=3, depth=2, n_train=300, epochs=2, batch_size=32,
                   lr=0.2, momentum=0.5, weight_decay=0.0, augment=True, mixup_alpha=0.2,
                   manifold_mixup_alpha=0.2, label_smoothing=0.1, random_labels=True, n_test=50, seed=7,
                   optimizer="adam", init_scale=2.0, data_seed=3, pretrain_random_label_epochs=1,
                   precision="float32")
    fields = {f.name for f in dataclasses.fields(TrainConfig)} - {"checkpoint_epochs", "checkpoint_steps"}
    assert set(changes) == fields, "every config field is exercised"
    keys = {name: _config(**{name: value}).key() for name, value in changes.items()}
    assert key not in keys.values()
    assert len(set(keys.values())) == len(keys)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(optimiser="adam"), TypeError, "optimiser"),
    (dict(epochs=-1), ValueError, "epochs must be an integer >= 0"),
    (dict(epochs=1.5), ValueError, "epochs must be an integer >= 0"),
    (dict(model="resnet9"), ValueError, "unknown model 'resnet9'"),
    (dict(dataset="imagenet"), ValueError, "unknown dataset 'imagenet'"),
    (dict(width=0), ValueError, "width must be a positive integer"),
    (dict(batch_size=0), ValueError, "batch_size must be a positive integer"),
    (dict(n_train=0), ValueError, "n_train must be a positive integer"),
    (dict(n_test=-5), ValueError, "n_test must be a positive integer"),
    (dict(depth=0), ValueError, "depth must be a positive integer"),
    (dict(lr=-0.1), ValueError, "lr must be a finite number >= 0"),
    (dict(lr="0.1"), ValueError, "lr must be a finite number >= 0"),
    (dict(lr=float("nan")), ValueError, "lr must be a finite number >= 0"),
    (dict(momentum=1.0), ValueError, r"momentum must be in \[0, 1\)"),
    (dict(weight_decay=-1e-4), ValueError, "weight_decay must be"),
    (dict(label_smoothing=1.0), ValueError, r"label_smoothing must be in \[0, 1\)"),
    (dict(label_smoothing="a"), ValueError, "label_smoothing must be"),
    (dict(mixup_alpha=-1), ValueError, "mixup_alpha must be"),
    (dict(mixup_alpha=1.0, manifold_mixup_alpha=1.0), ValueError, "not both"),
    (dict(augment="yes"), ValueError, "augment must be True or False"),
    (dict(random_labels=1), ValueError, "random_labels must be True or False"),
    (dict(seed=-1), ValueError, "seed must be an integer"),
    (dict(seed=0.5), ValueError, "seed must be an integer"),
    (dict(checkpoint_epochs=(2,)), ValueError, "outside 0..epochs=1"),
    (dict(checkpoint_epochs=(0.5,)), ValueError, "checkpoint_epochs must be integers"),
    (dict(model="resnet18", dataset="cifar10", depth=2), ValueError, "fixed depth"),
    (dict(optimizer="rmsprop"), ValueError, r"optimizer must be one of \('sgd', 'adam'\)"),
    (dict(precision="float16"), ValueError, r"precision must be one of \('bfloat16', 'float32'\), got 'float16'"),
    (dict(precision=None), ValueError, r"precision must be one of \('bfloat16', 'float32'\)"),
    (dict(init_scale=0), ValueError, "init_scale must be a finite number > 0"),
    (dict(data_seed=-2), ValueError, "data_seed must be an integer"),
    (dict(pretrain_random_label_epochs=-1), ValueError, "pretrain_random_label_epochs must be an integer >= 0"),
    (dict(checkpoint_steps=(-1,)), ValueError, "checkpoint_steps must be integers >= 0"),
    (dict(checkpoint_steps=(5,)), ValueError, r"checkpoint_steps \[5\] are after the last step \(4"),
])
def test_invalid_config_is_a_clear_error(kwargs, error, match):
    with pytest.raises(error, match=match):
        _config(**kwargs)


def test_config_normalisation():
    config = _config(checkpoint_epochs=[1, 0, 1])
    assert config.checkpoint_epochs == (0, 1)
    assert isinstance(TrainConfig(lr=1).lr, float)
    reg = TrainConfig.no_regularisers(model="mlp", width=2, augment=True, weight_decay=1e-3)
    assert reg.weight_decay == 0.0 and not reg.augment and reg.mixup_alpha == 0 and reg.label_smoothing == 0


def test_bad_train_arguments():
    with pytest.raises(ValueError, match="config must be a TrainConfig"):
        train(dict(BASE))
    with pytest.raises(ValueError, match="device must be"):
        train(_config(), device="tpu")
    with pytest.raises(ValueError, match="not saved for this config"):
        load_checkpoint(_config(), 5, device="cpu")
    with pytest.raises(ValueError, match="n=100000 exceeds the 60000 available"):
        _train(_config(n_train=100_000), cache_models=False)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present")
def test_cuda_without_gpu_is_a_clear_error():
    with pytest.raises(ValueError, match="CUDA is not available"):
        train(_config(), device="cuda")


@pytest.fixture(scope="module")
def baseline():
    return _train(_config(n_train=128, epochs=1), cache_models=False)


@pytest.mark.parametrize("option", [
    dict(mixup_alpha=1.0),
    dict(manifold_mixup_alpha=2.0),
    dict(label_smoothing=0.1),
    dict(random_labels=True),
    dict(augment=True),
    dict(augment=True, manifold_mixup_alpha=2.0, model="plain_cnn", width=2),
])
def test_regularisation_options_run(option, baseline):
    config = _config(n_train=128, epochs=1, **option)
    result = _train(config, cache_models=False)
    assert len(result.history) == 1 and torch.isfinite(torch.tensor(result.history[0]["loss"]))
    assert 0.0 <= result.train_accuracy <= 1.0
    assert all(torch.isfinite(p).all() for p in result.model.parameters())
    if config.model == baseline.config.model:
        assert not _same_weights(result.model, baseline.model)  # the option changed the training
    again = _train(config, cache_models=False)
    assert _same_weights(result.model, again.model)  # deterministic with the option on too


def test_random_labels_permute_the_labels():
    _, true = training._training_data(_config(n_train=200))
    _, permuted = training._training_data(_config(n_train=200, random_labels=True))
    assert torch.equal(torch.sort(true).values, torch.sort(permuted).values)  # same label counts
    assert (true != permuted).float().mean() > 0.5                             # mostly reassigned


def test_keys_of_earlier_configs_are_unchanged():
    # the key BASE had before optimizer / init_scale / data_seed / checkpoint_steps / precision
    # existed: the float32 loop is the first version's loop, so its models stay valid
    old = _config(precision="float32", lr=0.05)  # and the first version's default learning rate
    assert old.key() == "4d9a35a7faeecbda79030ef1"
    assert _config(precision="float32", lr=0.05, optimizer="sgd", init_scale=1, checkpoint_steps=(0, 2)).key() \
        == old.key()
    # the bfloat16 loop (the default) never reads a model of the float32 loop from the cache
    assert TrainConfig().precision == "bfloat16" and _config(lr=0.05).key() != old.key()
    # nor one of its first revision (batch norm in the channels-last kernel), whose key this was
    assert training.BFLOAT16_LOOP == 2 and _config().key() != "c571d7ea91ea090523d9c99a"


def test_sub_epoch_checkpoints_are_cached_and_loaded():
    config = _config(checkpoint_steps=(0, 1, 2, 4), n_train=256, batch_size=64)   # 4 steps per epoch
    assert training.steps_per_epoch(config) == 4
    final = _train(config)
    assert all(cache.path_for(config.key(), s, step=True).is_file() for s in (0, 1, 2, 4))
    untrained = training.load_step(config, 0, device="cpu", train_if_missing=False)
    assert _same_weights(untrained.model, _train(dataclasses.replace(config, epochs=0, checkpoint_steps=())).model)
    last = training.load_step(config, 4, device="cpu", train_if_missing=False)
    assert _same_weights(last.model, final.model) and last.epoch == 1.0
    assert training.load_step(config, 2, device="cpu").epoch == 0.5
    with pytest.raises(ValueError, match="step 3 is not saved"):
        training.load_step(config, 3, device="cpu")


def test_adam_init_scale_and_data_seed_change_training():
    base = _train(_config())
    adam = _train(_config(optimizer="adam", lr=1e-3))
    assert not _same_weights(base.model, adam.model)
    fresh = training.new_model(_config())
    scaled = training.new_model(_config(init_scale=3.0))
    for (name, a), (_, b) in zip(fresh.named_parameters(), scaled.named_parameters()):
        factor = 3.0 if name.endswith("weight") else 1.0
        assert torch.allclose(b, factor * a), name
    images, _ = training._training_data(_config(seed=5, data_seed=0))
    same, _ = training._training_data(_config(seed=0))
    assert torch.equal(images, same)


def test_pretraining_on_shuffled_labels_is_the_starting_point():
    config = _config(pretrain_random_label_epochs=1, checkpoint_steps=(0,))
    _train(config)
    start = training.load_step(config, 0, device="cpu", train_if_missing=False)
    shuffled = _train(_config(random_labels=True))
    assert _same_weights(start.model, shuffled.model)


def test_bfloat16_loop_is_deterministic_and_saves_float32_weights_in_the_default_layout():
    config = _config(model="vgg_small", width=2, n_train=128, batch_size=32, checkpoint_steps=(2,))
    assert config.precision == "bfloat16"
    first = _train(config)
    again = _train(config, cache_models=False)
    assert _same_weights(first.model, again.model)
    assert first.test_accuracy == again.test_accuracy and first.history[0]["loss"] == again.history[0]["loss"]
    step = training.load_step(config, 2, device="cpu", train_if_missing=False)
    for model in (first.model, again.model, step.model):
        assert all(t.dtype == torch.float32 and t.is_contiguous() for t in model.state_dict().values()
                   if t.is_floating_point())
        assert not model.training
    for payload in (cache.load(config.key(), 1), cache.load(config.key(), 2, step=True)):
        assert all(t.dtype == torch.float32 and t.is_contiguous() for t in payload["state_dict"].values()
                   if t.is_floating_point())
    # the accuracies were measured in float32: the returned network scores them again
    test_images, test_labels = training.load_tensors(config.dataset, "test", n=config.n_test, seed=config.seed)
    assert training.accuracy(first.model, test_images, test_labels, "cpu") == first.test_accuracy


def test_bfloat16_reaches_the_accuracy_of_float32_on_a_tiny_run():
    accuracies = {}
    for precision in training.PRECISIONS:
        config = _config(model="plain_cnn", width=4, n_train=4000, batch_size=32, lr=0.05, n_test=1000,
                         precision=precision)
        accuracies[precision] = _train(config, cache_models=False).test_accuracy
    assert accuracies["float32"] > 0.4                      # it learned something
    assert accuracies["bfloat16"] >= accuracies["float32"] - 0.03, accuracies


def test_well_trained_recipe():
    for model, epochs in training.WELL_TRAINED_EPOCHS.items():
        config = TrainConfig.well_trained(model)
        assert config.model == model and config.epochs == epochs and config.width == 16
        assert config.n_train is None and not config.augment and config.label_smoothing == 0
        assert config.precision == "bfloat16" and config.batch_size == 128 and config.lr == 0.05
    assert TrainConfig.well_trained("vgg_small", width=8, seed=3).width == 8
    with pytest.raises(ValueError, match=r"well-trained recipe is measured for \['plain_cnn', 'resnet_small', "
                                         r"'vgg_small'\], got model='mlp'"):
        TrainConfig.well_trained("mlp")


def test_accuracy_does_not_depend_on_the_evaluation_batch():
    # The CPU default (training.CPU_EVAL_BATCH, chosen for speed) scores every image as any other batch does.
    torch.manual_seed(0)
    model = build_model("resnet_small", width=4, seed=0).eval()
    images, labels = torch.randn(300, 1, 28, 28), torch.randint(0, 10, (300,))
    logits = model(images)
    labels[:150] = logits[:150].argmax(1)  # half right by construction
    scores = {b: training.accuracy(model, images, labels, "cpu", batch_size=b) for b in (None, 7, 1000)}
    assert len(set(scores.values())) == 1 and scores[None] >= 0.5
    assert training.CPU_EVAL_BATCH == 128
