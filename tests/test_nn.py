"""Building blocks against torch's own modules, and every registered model built from its defaults."""

import json
import random

import pytest
import torch
from torch import nn

from dlnotes.nn.activations import activation
from dlnotes.nn.conv import conv_output_size
from dlnotes.nn.lrn import LocalResponseNorm
from dlnotes.registry import MODELS


def test_conv_output_size_equals_torch_on_1000_random_layers():
    rng = random.Random(0)
    checked = 0
    while checked < 1000:
        n, k, s, d = rng.randint(1, 40), rng.randint(1, 7), rng.randint(1, 4), rng.randint(1, 3)
        p = rng.randint(0, k // 2)  # torch's pooling requires p <= k / 2
        expected = conv_output_size(n, k, p, s, d)
        if expected < 1:
            continue
        x = torch.zeros(1, 1, n, n)
        assert nn.Conv2d(1, 1, k, s, p, d)(x).shape[-1] == expected
        assert nn.MaxPool2d(k, s, p, d)(x).shape[-1] == expected
        if d == 1:
            assert nn.AvgPool2d(k, s, p)(x).shape[-1] == expected
        checked += 1


@pytest.mark.parametrize("size, alpha, beta, k", [(5, 1e-4, 0.75, 2.0), (3, 0.1, 0.5, 1.0), (4, 0.5, 0.75, 2.0)])
def test_lrn_equals_torch_with_alpha_scaled_by_size(size, alpha, beta, k):
    x = torch.randn(2, 12, 5, 5) * 3
    ours = LocalResponseNorm(size, alpha, beta, k)
    ref = nn.LocalResponseNorm(size, alpha=alpha * size, beta=beta, k=k)
    assert torch.allclose(ours(x), ref(x), atol=1e-6)
    assert torch.allclose(ours(x), ours.to_torch()(x), atol=1e-6)


def test_lrn_by_hand():
    # one pixel, channels [1, 2, 3], n=3, alpha=1, beta=1, k=0: b1 = 2 / (1 + 4 + 9)
    x = torch.tensor([1.0, 2.0, 3.0]).view(1, 3, 1, 1)
    out = LocalResponseNorm(3, 1.0, 1.0, 0.0)(x).flatten()
    assert torch.allclose(out, torch.tensor([1 / 5, 2 / 14, 3 / 13]))


# the notes' formulas and derivatives, written out in float64
FORMULAS = {
    "sigmoid": (lambda x: 1 / (1 + torch.exp(-x)), lambda x: (1 / (1 + torch.exp(-x))) * (1 - 1 / (1 + torch.exp(-x)))),
    "tanh": (lambda x: (torch.exp(x) - torch.exp(-x)) / (torch.exp(x) + torch.exp(-x)),
             lambda x: 1 - ((torch.exp(x) - torch.exp(-x)) / (torch.exp(x) + torch.exp(-x))) ** 2),
    "relu": (lambda x: torch.maximum(x, torch.zeros_like(x)), lambda x: (x > 0).double()),
    "leaky_relu": (lambda x: torch.where(x > 0, x, 0.01 * x), lambda x: torch.where(x > 0, 1.0, 0.01).double()),
}


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_activations_follow_the_formulas_and_their_derivatives(name):
    f, df = FORMULAS[name]
    x = (torch.randn(1000, dtype=torch.float64) * 5).requires_grad_(True)
    ours = activation(name)(x)
    assert torch.allclose(ours, f(x.detach()), atol=1e-12)
    (grad,) = torch.autograd.grad(ours.sum(), x)
    assert torch.allclose(grad, df(x.detach()), atol=1e-12)
    x32 = torch.randn(100) * 3
    assert torch.allclose(activation("leaky_relu", 0.2)(x32), torch.where(x32 > 0, x32, 0.2 * x32))


def _input_for(name, model_args):
    if name in ("lenet", "alexnet"):
        return torch.randn(2, model_args.get("in_channels", 1), model_args["image_size"], model_args["image_size"])
    if name in ("rnn", "lstm", "gru"):
        return torch.randn(2, 10, 1)
    return torch.randn(2, model_args.get("in_features", 4))


SMALL = {"alexnet": {"image_size": 96, "in_channels": 3, "width": 0.125, "num_classes": 10}, "lenet": {"image_size": 28},
         "mlp": {"in_features": 20}, "linear_regression": {"in_features": 3}, "logistic_regression": {"in_features": 3},
         "rnn": {"num_classes": 3}, "lstm": {"num_classes": 3}, "gru": {"num_classes": 3}}


@pytest.mark.parametrize("name", MODELS.names())
def test_every_model_builds_runs_forward_and_backward(name):
    from dlnotes.summary import layer_table

    args = SMALL.get(name, {})
    model = MODELS.get(name)(**args)
    x = _input_for(name, args)
    out = model(x)
    assert out.shape[0] == 2 and torch.isfinite(out).all()
    out.float().pow(2).mean().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    table = layer_table(model, tuple(x.shape[1:]))  # formula shapes are checked against the forward pass
    assert table["total_params"] == sum(p.numel() for p in model.parameters())


def test_alexnet_paper_numbers(cli, in_process):
    r = in_process("summary", "--config", "configs/alexnet_imagenet.yaml", "--json")
    assert r.returncode == 0, r.stderr
    table = json.loads(r.stdout)
    assert table["total_params"] == 62_378_344
    assert any(layer["type"] == "LocalResponseNorm" for layer in table["layers"])
    maps = sorted({layer["output_shape"][-1] for layer in table["layers"] if len(layer["output_shape"]) == 3}, reverse=True)
    assert maps == [55, 27, 13, 6]
    r = in_process("summary", "--config", "configs/alexnet_imagenet.yaml", "data.image_size=32")
    assert r.returncode == 2 and "features.14" in r.stderr and "too small" in r.stderr


def test_alexnet_groups_two_halves_the_grouped_convolutions():
    one = MODELS.get("alexnet")(groups=1)
    two = MODELS.get("alexnet")(groups=2)
    conv2_1, conv2_2 = one.features[4], two.features[4]
    assert conv2_2.groups == 2 and conv2_2.weight.numel() * 2 == conv2_1.weight.numel()
    assert two(torch.randn(1, 3, 224, 224)).shape == (1, 1000)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_batches_from_pinned_host_memory_reach_the_gpu():
    from dlnotes.engine.batching import Batches, place

    x, y = torch.randn(100, 3), torch.arange(100)
    dev = torch.device("cuda")
    assert place(x, dev).is_cuda
    host = place(x, dev, share=0.0)  # pretend it does not fit: stays pinned on the host
    assert host.is_pinned() and not host.is_cuda
    batches = list(Batches(host, y, 32, True, torch.Generator().manual_seed(0), device=dev))
    assert all(xb.is_cuda and yb.is_cuda for xb, yb in batches)
    assert sorted(torch.cat([yb for _, yb in batches]).tolist()) == list(range(100))
