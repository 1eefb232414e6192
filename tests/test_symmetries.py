"""Symmetry removal: normalised and aligned networks compute the same function, alignment undoes
a random permutation + rescaling, normalising is idempotent, bad networks fail clearly."""
import pytest
import torch
from torch import nn

from latentgeom.networks import symmetries as sym
from latentgeom.networks.toroid_networks import build, error
from latentgeom.networks.weight_space import angles


def mlp(bias=False, bn=False):
    layers = [nn.Flatten()]
    for n_in, n_out in ((784, 24), (24, 16)):
        layers += [nn.Linear(n_in, n_out, bias=bias)] + ([nn.BatchNorm1d(n_out)] if bn else []) + [nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(16, 10, bias=bias))


def cnn(bias=False, bn=False):
    def block(c_in, c_out):
        return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=bias)] + ([nn.BatchNorm2d(c_out)] if bn else []) + \
               [nn.ReLU(), nn.MaxPool2d(2)]
    return nn.Sequential(*block(1, 4), *block(4, 6), nn.Flatten(), nn.Linear(6 * 7 * 7, 10, bias=bias))


NETS = {f"{kind}{'-bias' if bias else ''}{'-bn' if bn else ''}": (kind, bias, bn)
        for kind in ("mlp", "cnn") for bias in (False, True) for bn in (False, True)}


def make(name, seed=0):
    kind, bias, bn = NETS[name]
    torch.manual_seed(seed)
    net = (mlp if kind == "mlp" else cnn)(bias, bn)
    x = torch.randn(128, 1, 28, 28)
    if bn:  # non-trivial statistics and affine parameters
        net.train()
        for _ in range(3):
            net(x * 2 + 0.5)
        for m in net.modules():
            if isinstance(m, sym.NORMS):
                m.weight.data.uniform_(0.5, 2.0)
                m.bias.data.normal_()
    return net.eval(), x


@pytest.mark.parametrize("name", NETS)
def test_normalised_and_aligned_networks_compute_the_same_function(name):
    net, x = make(name)
    labels = torch.randint(0, 10, (len(x),))
    y = net(x)
    normalised = sym.normalise(net)
    other = sym.random_symmetry(net, seed=3)
    aligned = sym.align(net, other)
    for copy in (normalised, other, aligned):
        assert torch.allclose(copy(x), y, atol=1e-6, rtol=0)
        assert error(copy, x, labels) == error(net, x, labels)
    # every hidden unit of the normalised network is on its unit sphere
    for stage in sym.stages(normalised)[:-1]:
        rows = sym._incoming(stage)
        assert torch.allclose(rows.norm(dim=1), torch.ones(len(rows)), atol=1e-6)
    assert torch.allclose(net(x), y)  # the input network is untouched


@pytest.mark.parametrize("name", NETS)
def test_a_permuted_and_rescaled_copy_aligns_back_to_distance_zero(name):
    net, _ = make(name)
    other = sym.random_symmetry(net, seed=7)
    raw = angles(sym.normalise(net), sym.normalise(other))
    assert raw.max() > 0.5  # the permutation really moved units
    assert angles(sym.normalise(net), sym.align(net, other)).max() < 1e-3


@pytest.mark.parametrize("name", NETS)
def test_normalising_twice_changes_nothing(name):
    net, _ = make(name)
    once = sym.normalise(net)
    twice = sym.normalise(once)
    for a, b in zip(once.state_dict().values(), twice.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-6)


def test_spheres_round_trip():
    net, x = make("mlp-bias-bn")
    n = sym.normalise(net)
    back = sym.load_spheres(n, sym.spheres(n))
    assert torch.allclose(back(x), n(x), atol=1e-5)
    with pytest.raises(ValueError, match="blocks must hold"):
        sym.load_spheres(n, sym.spheres(n)[:-1])


def test_binary_network_symmetries():
    net = build("binary_mlp", seed=0)
    x = torch.randn(64, 1, 28, 28)
    other = sym.random_symmetry(net, seed=1)
    assert torch.equal(sym.align(net, other)(x), net(x))
    assert angles(sym.normalise(net), sym.align(net, other)).max() < 1e-3


def test_recompute_batchnorm_matches_batch_statistics():
    net, x = make("mlp-bn")
    sym.recompute_batchnorm(net, x, batch_size=len(x))
    bn = net[2]
    pre = net[1](net[0](x))
    assert torch.allclose(bn.running_mean, pre.mean(0), atol=1e-5)
    assert bn.momentum == 0.1 and not net.training


def test_bad_input_fails_clearly():
    with pytest.raises(ValueError, match="unsupported layer 2 \\(Tanh\\)"):
        sym.normalise(nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2)))
    with pytest.raises(ValueError, match="nn.Sequential"):
        sym.normalise(nn.Linear(3, 2))
    with pytest.raises(ValueError, match="at least two weight layers"):
        sym.normalise(nn.Sequential(nn.Linear(3, 2)))
    with pytest.raises(ValueError, match="must directly follow"):
        sym.normalise(nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.BatchNorm1d(2), nn.Linear(2, 2)))
    with pytest.raises(ValueError, match="same architecture"):
        sym.align(make("mlp")[0], make("mlp-bias")[0])
    with pytest.raises(ValueError, match="same architecture"):
        sym.align(make("mlp")[0], make("cnn")[0])
