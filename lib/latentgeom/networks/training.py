"""Training with the paper's recipe (SGD + momentum + cosine schedule), cached by config.

``train(TrainConfig(...))`` trains once; the same config later comes from the model cache
(:mod:`latentgeom.networks.model_cache`). Regularisers are options: weight decay, augmentation (random crop
+ flip), mixup, manifold mixup, label smoothing; ``random_labels`` permutes the training
labels; ``epochs=0`` gives the untrained network. Deterministic under ``seed`` on CPU.

Options added for the training-trajectories chapter (each one enters the cache key only when it
differs from its default, so every earlier config keeps its key): ``optimizer="adam"``,
``init_scale`` (all weights of the fresh network multiplied by a factor),
``pretrain_random_label_epochs`` (start from the same network trained on shuffled labels), ``data_seed`` (the
training subset drawn independently of the initialisation seed) and ``checkpoint_steps``
(weights cached after given optimiser steps, e.g. every quarter epoch early on; read them back
with :func:`load_step`).
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, replace

import numpy as np
import torch
import torch.nn.functional as F

from . import model_cache as cache
from ..progress import bar as progress_bar
from ..validation import resolve_device
from .data import DATASETS, augment_batch, load_tensors
from .models import ProbedModel, build_model
# Re-exported: the config and its recipes are read through this module by the chapters.
from .train_config import (BFLOAT16_LOOP, CONFIG_VERSION, OPTIMIZERS, PRECISIONS, WELL_TRAINED,  # noqa: F401
                           WELL_TRAINED_EPOCHS, TrainConfig, TrainedModel, steps_per_epoch)


def new_model(config: TrainConfig) -> ProbedModel:
    """The freshly initialised network of ``config`` (float32, contiguous layout, on the CPU).

    Built by :func:`latentgeom.networks.models.build_model` from the config's dataset, model,
    width, depth and seed, with every convolution and linear weight multiplied by
    ``config.init_scale``: the weights :func:`train` starts from (before any random-label
    pre-training), and the architecture a cached state dict of ``config`` loads into.
    """
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
    info = DATASETS[config.dataset]
    model = build_model(config.model, num_classes=info.num_classes, in_channels=info.channels,
                        image_size=info.image_size, width=config.width, depth=config.depth, seed=config.seed)
    if config.init_scale != 1.0:
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
                    module.weight.mul_(config.init_scale)
    return model


def _training_data(config: TrainConfig):
    data_seed = config.seed if config.data_seed is None else config.data_seed
    images, labels = load_tensors(config.dataset, "train", n=config.n_train, seed=data_seed)
    if config.random_labels:
        g = torch.Generator().manual_seed(data_seed + 1)
        labels = labels[torch.randperm(len(labels), generator=g)]
    return images, labels


#: Images per forward pass of :func:`accuracy` on the CPU: batches whose activations stay in the
#: cache. Measured on the 2-core CI machine (float32, channels-last, width 16), against 1000 per
#: pass: vgg_small 11 400 against 5 300 img/s, resnet_small 8 700 against 3 100, plain_cnn
#: 35 900 against 27 600. Every image is scored by the same float32 network whatever the batch (the
#: convolutions' rounding may differ in the last bit between batch sizes).
CPU_EVAL_BATCH = 128
#: Training images on which :func:`train` scores ``train_accuracy`` at each checkpoint: the first
#: ones of the (seeded) training set, all of them when there are fewer. Scoring all 60 000 at every
#: checkpoint cost the training ladder ~4 min of its ~16 (resnet_small w16 scores ~3 600 img/s on
#: 2 cores); 10 000 give the accuracy to ~0.3 points (binomial standard error at 0.9), and no
#: verdict reads it (the random-label networks that must memorise train on fewer images).
TRAIN_ACCURACY_IMAGES = 10_000


def accuracy(model: ProbedModel, images: torch.Tensor, labels: torch.Tensor, device, batch_size: int | None = None,
             *, memory_format: torch.memory_format = torch.contiguous_format) -> float:
    """Fraction of ``images`` [N, C, H, W] classified as ``labels`` [N], in float32 (eval mode,
    no autocast). ``batch_size``: images per forward pass (None: :data:`CPU_EVAL_BATCH` on the
    CPU, 1000 on a GPU). ``memory_format``: the layout the batches are given in (channels-last
    for a model trained channels-last: the convolutions then need no layout conversion)."""
    if batch_size is None:
        batch_size = CPU_EVAL_BATCH if resolve_device(device).type == "cpu" else 1000
    was = model.training
    model.eval()
    correct = 0
    with torch.inference_mode():
        for s in range(0, len(images), batch_size):
            x = images[s:s + batch_size].to(device).contiguous(memory_format=memory_format)
            correct += (model(x).argmax(1).cpu() == labels[s:s + batch_size].cpu()).sum().item()
    model.train(was)
    return correct / max(1, len(images))


def cache_payload(model, config, epoch, train_acc, test_acc, history) -> dict:
    """What the model cache stores for one trained model (float32 weights on the CPU in the
    default contiguous layout, whatever layout they were trained in; its config as a dict,
    epoch, accuracies, loss history): the one format of :func:`train` and
    :func:`latentgeom.networks.external.train_torchvision`."""
    return dict(state_dict={k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
                config=asdict(config), epoch=epoch, train_accuracy=train_acc, test_accuracy=test_acc,
                history=list(history))


def _from_payload(config: TrainConfig, payload: dict, device) -> TrainedModel:
    return from_cache_payload(new_model(config), config, payload, device)


def from_cache_payload(model: torch.nn.Module, config, payload: dict, device) -> TrainedModel:
    """``model`` (built for ``config``) with the weights and scores of a :func:`cache_payload`,
    on ``device`` in eval mode: the inverse of :func:`cache_payload`, for :func:`train` and
    :func:`latentgeom.networks.external.train_torchvision`."""
    model.load_state_dict(payload["state_dict"])
    model.to(device).eval()
    return TrainedModel(model, config, payload["epoch"], payload["train_accuracy"],
                        payload["test_accuracy"], payload.get("history", []))


def train(config: TrainConfig, *, device: str = "auto", cache_models: bool = True,
          progress: bool = True) -> TrainedModel:
    """Train ``config`` (or load it from the cache) and return the model with its accuracies.

    Checkpoint epochs are cached on the way. A corrupt cache file is retrained, not fatal.
    Processes asking for the same config at once train it once (:func:`model_cache.claim`);
    with ``LATENTGEOM_NO_TRAIN=1`` a cache miss raises ``latentgeom.storage.CacheMiss``.
    The returned network is float32, in the default contiguous layout, in eval mode.
    """
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
    if not cache_models:
        return _train(config, device=device, cache_models=False, progress=progress)
    with cache.claim(config.key(), {config.epochs, *config.checkpoint_epochs}, steps=config.checkpoint_steps,
                     what=f"{config.model} w{config.width} ({config.epochs} epochs)"):
        return _train(config, device=device, cache_models=True, progress=progress)


def optimiser_and_schedule(model: torch.nn.Module, config, total_steps: int, *, fused: bool = False):
    """The recipe's optimiser (``config.optimizer``: SGD with momentum, or Adam; L2 weight decay)
    and its cosine learning-rate schedule from ``config.lr`` to 0 over ``total_steps`` steps.

    Shared by :func:`train` and :func:`latentgeom.networks.external.train_torchvision`, so a
    torchvision model is trained with exactly the library's recipe. ``config`` needs ``lr``,
    ``momentum`` and ``weight_decay`` (``optimizer`` defaults to SGD). ``fused``: torch's
    fused update (one kernel over all parameters instead of a Python loop over them; the same
    arithmetic, rounded in another order), used by the bfloat16 loop.
    """
    options = dict(fused=True) if fused else {}
    if getattr(config, "optimizer", "sgd") == "adam":
        optimiser = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, **options)
    else:
        optimiser = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                    weight_decay=config.weight_decay, **options)
    total = max(1, int(total_steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: 0.5 * (1 + math.cos(math.pi * s / total)))
    return optimiser, schedule


class _Arithmetic:
    """How one training step computes, by ``TrainConfig.precision``.

    ``"float32"`` is the first version's loop unchanged: contiguous tensors, no autocast.
    ``"bfloat16"``: the network and its input batches in channels-last layout (oneDNN's fast
    convolutions on the CPU need it; for one-channel images it is the same memory) and the
    forward pass under bfloat16 autocast; the logits are cast back to float32 before the loss,
    so the loss, the gradients reaching the float32 weights and the update are float32.
    Batch norm keeps float32 statistics; in layers narrower than 16 channels it runs in the
    contiguous layout (:mod:`latentgeom.networks.batch_norm`: the channels-last kernel is
    scalar there), which moves bytes but changes no formula.
    """

    def __init__(self, precision: str, device: torch.device):
        self.reduced = precision == "bfloat16"
        self.device = device
        self.layout = torch.channels_last if self.reduced else torch.contiguous_format

    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        return model.to(memory_format=self.layout) if self.reduced else model

    def batch(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=self.layout) if self.reduced and x.ndim == 4 else x

    def forward(self, model: torch.nn.Module, x: torch.Tensor, **kwargs) -> torch.Tensor:
        if not self.reduced:
            return model(x, **kwargs)
        with torch.autocast(self.device.type, dtype=torch.bfloat16):
            out = model(x, **kwargs)
        return out.float()


def _train(config: TrainConfig, *, device: str, cache_models: bool, progress: bool) -> TrainedModel:
    dev = resolve_device(device)
    key = config.key()
    if cache_models:
        payload = cache.load(key, config.epochs)
        missing = [e for e in config.checkpoint_epochs if cache.load(key, e) is None] + \
            [s for s in config.checkpoint_steps if not cache.path_for(key, s, step=True).is_file()]
        if payload is not None and not missing:
            return _from_payload(config, payload, dev)

    torch.manual_seed(config.seed)
    model = new_model(config).to(dev)
    if config.pretrain_random_label_epochs:
        start = train(replace(config, random_labels=True, epochs=config.pretrain_random_label_epochs,
                              pretrain_random_label_epochs=0, checkpoint_epochs=(), checkpoint_steps=()),
                      device=device, cache_models=cache_models, progress=False)
        model.load_state_dict(start.model.state_dict())
        torch.manual_seed(config.seed)
    arithmetic = _Arithmetic(config.precision, dev)
    model = arithmetic.prepare(model)
    images, labels = _training_data(config)
    test_images, test_labels = load_tensors(config.dataset, "test", n=config.n_test, seed=config.seed)
    # The training set on the device once (a no-op on the CPU), not batch by batch.
    images, labels = images.to(dev), labels.to(dev)
    n_steps = math.ceil(len(images) / config.batch_size)
    optimiser, schedule = optimiser_and_schedule(model, config, n_steps * config.epochs,
                                                 fused=arithmetic.reduced)
    g = torch.Generator().manual_seed(config.seed + 2)
    rng = np.random.default_rng(config.seed + 3)
    history: list[dict] = []

    def save(epoch, train_acc, test_acc):
        if cache_models:
            cache.save(key, epoch, cache_payload(model, config, epoch, train_acc, test_acc, history))

    def evaluate():
        scored = ((images[:TRAIN_ACCURACY_IMAGES], labels[:TRAIN_ACCURACY_IMAGES]), (test_images, test_labels))
        return tuple(accuracy(model, x, y, dev, memory_format=arithmetic.layout) for x, y in scored)

    step, save_steps = 0, set(config.checkpoint_steps)

    def save_step():  # sub-epoch checkpoints: weights only (accuracies would cost a pass each)
        if cache_models and step in save_steps:
            was = model.training
            cache.save(key, step, cache_payload(model.eval(), config, step / n_steps, math.nan, math.nan,
                                           []), step=True)
            model.train(was)

    def finished(epoch, train_acc, test_acc):  # float32 weights in the default layout, eval mode
        model.to(memory_format=torch.contiguous_format)
        return TrainedModel(model.eval(), config, epoch, train_acc, test_acc, history)

    save_step()
    if config.epochs == 0 or 0 in config.checkpoint_epochs:
        tr, te = evaluate()
        save(0, tr, te)
        if config.epochs == 0:
            return finished(0, tr, te)

    alpha = config.mixup_alpha or config.manifold_mixup_alpha
    bar = progress_bar(range(1, config.epochs + 1), desc=f"train {config.model} w{config.width}",
                       enabled=progress, leave=False)
    for epoch in bar:
        model.train()
        start, seen = time.time(), 0
        loss_sum = torch.zeros((), dtype=torch.float64, device=dev)  # read once per epoch, not per step
        order = torch.randperm(len(images), generator=g).to(dev)
        for s in range(0, len(images), config.batch_size):
            idx = order[s:s + config.batch_size]
            x, y = images[idx], labels[idx]
            if config.augment:
                x = augment_batch(x, g)
            x = arithmetic.batch(x)
            if alpha > 0:
                lam = float(rng.beta(alpha, alpha))
                perm = torch.randperm(len(y), generator=g).to(dev)
                mix_fn = lambda h, lam=lam, perm=perm: lam * h + (1 - lam) * h[perm]  # noqa: E731
                k = 0 if config.mixup_alpha > 0 else int(rng.integers(0, model.n_mixable + 1))
                out = arithmetic.forward(model, x, mix=(k, mix_fn))
                loss = lam * F.cross_entropy(out, y, label_smoothing=config.label_smoothing) + \
                    (1 - lam) * F.cross_entropy(out, y[perm], label_smoothing=config.label_smoothing)
            else:
                loss = F.cross_entropy(arithmetic.forward(model, x), y, label_smoothing=config.label_smoothing)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            step += 1
            save_step()
            seen += len(y)
            loss_sum += loss.detach().double() * len(y)
        ended = time.time()
        seconds = ended - start
        # ``ended`` (Unix time, s) lines up the epochs of networks trained side by side (the bench).
        record = dict(epoch=epoch, loss=loss_sum.item() / seen, seconds=seconds, images_per_second=seen / seconds,
                      ended=ended)
        if epoch in config.checkpoint_epochs or epoch == config.epochs:
            record["train_accuracy"], record["test_accuracy"] = evaluate()
            history.append(record)
            save(epoch, record["train_accuracy"], record["test_accuracy"])
        else:
            history.append(record)
        bar.set_postfix(loss=f"{record['loss']:.3f}")
    final = history[-1]
    return finished(config.epochs, final["train_accuracy"], final["test_accuracy"])


def load_checkpoint(config: TrainConfig, epoch: int, *, device: str = "auto",
                    train_if_missing: bool = True) -> TrainedModel:
    """The model of ``config`` after ``epoch`` epochs (0 = untrained, or a checkpoint epoch)."""
    allowed = {0, config.epochs, *config.checkpoint_epochs}
    if epoch not in allowed:
        raise ValueError(f"epoch {epoch} is not saved for this config; available: {sorted(allowed)}")
    dev = resolve_device(device)
    payload = cache.load(config.key(), epoch)
    if payload is None:
        if epoch == 0:
            return train(replace(config, epochs=0, checkpoint_epochs=()), device=device, progress=False)
        if not train_if_missing:
            raise FileNotFoundError(f"epoch {epoch} of {config.model} is not in the model cache")
        train(config, device=device)
        payload = cache.load(config.key(), epoch)
    return _from_payload(config, payload, dev)


def load_step(config: TrainConfig, step: int, *, device: str = "auto", train_if_missing: bool = True) -> TrainedModel:
    """The model of ``config`` after ``step`` optimiser steps (one of ``config.checkpoint_steps``).

    Its ``epoch`` is the fractional epoch ``step / steps_per_epoch`` and its accuracies are NaN
    (not measured at sub-epoch checkpoints). Trains ``config`` when the step is not cached.
    """
    if step not in config.checkpoint_steps:
        raise ValueError(f"step {step} is not saved for this config; checkpoint_steps: {list(config.checkpoint_steps)}")
    dev = resolve_device(device)
    payload = cache.load(config.key(), step, step=True)
    if payload is None:
        if not train_if_missing:
            raise FileNotFoundError(f"step {step} of {config.model} is not in the model cache")
        train(config, device=device, progress=False)
        payload = cache.load(config.key(), step, step=True)
    return _from_payload(config, payload, dev)
