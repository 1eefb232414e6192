"""The narrow-layer batch norm of the bfloat16 loop (latentgeom.networks.batch_norm) computes
what nn.BatchNorm2d computes, and is nn.BatchNorm2d wherever it does not take its route."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from latentgeom.networks import batch_norm
from latentgeom.networks.activations import inference_copy
from latentgeom.networks.batch_norm import NARROW_CHANNELS, BatchNorm2d
from latentgeom.networks.training import TrainConfig, new_model


def _pair(channels: int, seed: int = 0):
    torch.manual_seed(seed)
    reference = nn.BatchNorm2d(channels)
    with torch.no_grad():
        reference.weight.uniform_(0.5, 1.5)
        reference.bias.uniform_(-1, 1)
        reference.running_mean.uniform_(-0.5, 0.5)
    ours = BatchNorm2d(channels)
    ours.load_state_dict(reference.state_dict())
    return reference, ours


def _step(module, x, grad):
    x = x.clone().requires_grad_()
    y = module(x)
    y.backward(grad)
    return dict(y=y, dx=x.grad, dweight=module.weight.grad, dbias=module.bias.grad,
                running_mean=module.running_mean, running_var=module.running_var,
                batches=module.num_batches_tracked)


def _input(channels, dtype=torch.bfloat16, layout=torch.channels_last, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(16, channels, 9, 9, generator=g) * 2 + 1
    return x.to(dtype).contiguous(memory_format=layout)


def test_the_narrow_route_equals_batch_norm_to_bfloat16_rounding():
    reference, ours = _pair(8)
    x = _input(8)
    assert batch_norm.takes_contiguous_route(ours.train(), x)
    grad = torch.randn(x.shape, generator=torch.Generator().manual_seed(2)).to(x.dtype) \
        .contiguous(memory_format=torch.channels_last)
    want, got = _step(reference, x, grad), _step(ours, x, grad)
    for name in ("y", "dx"):   # bfloat16 tensors: one rounding of float32 values apart at most
        assert got[name].dtype == torch.bfloat16 and got[name].is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(got[name].float(), want[name].float(), rtol=1e-2, atol=2e-2)
    for name in ("dweight", "dbias", "running_mean", "running_var"):   # float32, summed in another order
        assert got[name].dtype == torch.float32
        torch.testing.assert_close(got[name], want[name], rtol=1e-4, atol=1e-4)
    assert int(got["batches"]) == int(want["batches"]) == 1


def test_everything_else_is_batch_norm_bit_for_bit():
    cases = [(_input(8, torch.float32), "train"),                          # float32 (the plain loop)
             (_input(8, layout=torch.contiguous_format), "train"),          # contiguous bfloat16
             (_input(NARROW_CHANNELS), "train"),                            # wide enough
             (_input(8), "eval")]                                           # eval mode
    for x, mode in cases:
        reference, ours = _pair(x.shape[1])
        reference.train(mode == "train")
        ours.train(mode == "train")
        assert not batch_norm.takes_contiguous_route(ours, x)
        grad = torch.ones_like(x)
        want, got = _step(reference, x, grad), _step(ours, x, grad)
        for name in want:
            assert torch.equal(got[name], want[name]), (x.dtype, x.shape, mode, name)


def test_state_dicts_are_interchangeable_and_inference_copy_folds_it():
    reference, ours = _pair(8)
    assert list(ours.state_dict()) == list(reference.state_dict())
    back = nn.BatchNorm2d(8)
    back.load_state_dict(ours.state_dict())
    model = new_model(TrainConfig(model="vgg_small", width=8))
    assert any(type(m) is BatchNorm2d for m in model.modules())
    fast = inference_copy(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())   # all folded
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), model.eval()(x), rtol=1e-4, atol=1e-5)


def test_the_route_is_differentiable_once():
    _, ours = _pair(8)
    x = _input(8).requires_grad_()
    (dx,) = torch.autograd.grad(ours(x).float().square().sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable|twice"):
        dx.float().sum().backward()
