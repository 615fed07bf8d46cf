"""Looking inside models (issue 28): every map against an independent reference.

Grad-CAM and saliency against Captum's; feature-map shapes against ``dlnotes summary``'s; recurrent
gates against the model's own hidden state; the model-randomisation sanity check (Adebayo et al. 2018);
gradient norms against norms taken by hand; the deep sigmoid network's vanishing gradient.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlnotes.explain import activations, attribution, interpret, recurrent, tabular
from dlnotes.explain.layers import conv_layers, last_conv_maps, layer, out_of_place
from dlnotes.models import build_model

captum = pytest.importorskip("captum.attr")

CNNS = {
    "lenet relu": ("lenet", dict(num_classes=10, image_size=28, activation="relu", pool="max"), (1, 28, 28)),
    "lenet sigmoid": ("lenet", dict(num_classes=4, image_size=16), (1, 16, 16)),
    "alexnet": ("alexnet", dict(num_classes=10, image_size=67, width=0.125, in_channels=3), (3, 67, 67)),
    "alexnet groups": ("alexnet", dict(num_classes=3, image_size=64, width=0.25, groups=2, in_channels=1), (1, 64, 64)),
}


def cnn(key: str, seed: int = 0):
    name, args, shape = CNNS[key]
    torch.manual_seed(seed)
    return build_model(name, args).eval(), torch.randn(3, *shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("key", list(CNNS))
def test_gradcam_and_saliency_equal_captums(key):
    model, x = cnn(key)
    targets = [1, 0, 2]
    for name, relu in [(last_conv_maps(model), True), (last_conv_maps(model), False), (conv_layers(model)[0], True),
                       (conv_layers(model)[-1], False)]:
        ours = attribution.gradcam(model, x, name, targets, relu=relu)
        with out_of_place(model):
            ref = captum.LayerGradCam(model, layer(model, name)).attribute(x, target=targets, relu_attributions=relu)
        assert ours.shape == tuple(ref.shape[:1] + ref.shape[2:])
        np.testing.assert_allclose(ours, ref.squeeze(1).detach().numpy(), atol=1e-5, rtol=0)
        assert relu or np.abs(ours).max() > 1e-6  # not a comparison of two zero maps
        up = attribution.upsampled(ours, x.shape[-2:])
        ref_up = captum.LayerAttribution.interpolate(ref, tuple(x.shape[-2:]), "bilinear")
        np.testing.assert_allclose(up, ref_up.squeeze(1).detach().numpy(), atol=1e-5, rtol=0)
    with out_of_place(model):
        ref = captum.Saliency(model).attribute(x.clone().requires_grad_(True), target=targets)
    ours = attribution.saliency(model, x, targets)
    assert ours.shape == x.shape
    np.testing.assert_allclose(ours, ref.detach().numpy(), atol=1e-5, rtol=0)


def test_the_default_gradcam_layer_is_the_last_convs_activation():
    model, _ = cnn("alexnet")
    assert last_conv_maps(model) == "features.13"  # conv5 (features.12) and its ReLU
    lenet, _ = cnn("lenet sigmoid")
    assert last_conv_maps(lenet) == "features.4"
    assert [m.inplace for m in model.modules() if isinstance(m, torch.nn.ReLU)] == [True] * 7  # restored


@pytest.mark.parametrize("key", list(CNNS))
def test_feature_map_shapes_equal_the_summarys(key):
    from dlnotes.summary import layer_table

    model, x = cnn(key)
    rows = {r["name"]: r for r in layer_table(model, tuple(x.shape[1:]))["layers"]}
    maps = activations.feature_maps(model, x)
    assert [m.name for m in maps] == [n for n, r in rows.items() if r["type"] in ("Conv2d", "MaxPool2d", "AvgPool2d")]
    for m in maps:
        assert list(m.maps.shape) == rows[m.name]["output_shape"] == list(m.formula_shape), m.name
    with torch.no_grad():  # and the first one is what the layer computes
        np.testing.assert_allclose(maps[0].maps, layer(model, maps[0].name)(x)[0].numpy(), atol=1e-6)


def test_first_filters_and_lrn_effect():
    model, x = cnn("alexnet")
    assert activations.first_filters(model).shape == (12, 3, 11, 11)
    effects = activations.lrn_effect(model, x)
    assert [e.name for e in effects] == ["features.2", "features.6"]
    lrn = layer(model, "features.2")
    np.testing.assert_allclose(effects[0].after, lrn(torch.from_numpy(effects[0].before)[None])[0].numpy(), atol=1e-6)
    assert effects[0].contrast_before == pytest.approx(activations.local_contrast(effects[0].before))
    a = torch.from_numpy(effects[0].before)  # the paper's divisor, (k + alpha sum_window a^2)^beta, k = 2
    window = torch.nn.functional.pad(a.pow(2), (0, 0, 0, 0, 2, 2)).unfold(0, 5, 1).sum(-1)
    divisor = (2 + 1e-4 * window).pow(0.75)[a > 1e-6]
    assert effects[0].divisor == pytest.approx((float(divisor.min()), float(divisor.max())), rel=1e-5)


def _contrast_by_loop(a: np.ndarray, size: int) -> float:
    values = []
    for i in range(a.shape[0]):
        window = a[max(0, i - size // 2): i + (size - 1) // 2 + 1]
        for y in range(a.shape[1]):
            for x in range(a.shape[2]):
                w = window[:, y, x].astype(np.float64)
                if abs(w.mean()) > 1e-12:
                    values.append(w.std() / abs(w.mean()))
    return float(np.mean(values))


def test_local_contrast_is_the_windows_coefficient_of_variation():
    a = np.random.default_rng(0).random((7, 4, 3)) * (np.random.default_rng(1).random((7, 4, 3)) > 0.4)
    a[:, 0, 0] = 0  # an all-zero window is left out
    for size in (5, 4, 1):
        assert activations.local_contrast(a, size) == pytest.approx(_contrast_by_loop(a, size), rel=1e-9)
    assert activations.local_contrast(10 * a) == pytest.approx(activations.local_contrast(a), rel=1e-9)
    assert activations.local_contrast(np.ones((5, 2, 2))) == 0.0


def test_rank_correlation_is_scipys_spearman():
    from scipy.stats import spearmanr

    g = np.random.default_rng(0)
    for a, b in [(g.random(50), g.random(50)), (g.integers(0, 4, 60), g.integers(0, 3, 60)),  # with ties
                 (g.random((4, 4)), g.random((4, 4)) ** 3)]:
        assert attribution.rank_correlation(a, b) == pytest.approx(spearmanr(a.ravel(), b.ravel()).statistic, abs=1e-12)
    assert attribution.rank_correlation(np.arange(5.0), np.arange(5.0) ** 3) == pytest.approx(1.0)
    assert np.isnan(attribution.rank_correlation(np.ones(5), np.arange(5.0)))


@pytest.mark.parametrize("mode", ["lstm", "gru"])
@pytest.mark.parametrize("impl", ["fused", "scratch"])
@pytest.mark.parametrize("layers,bidirectional", [(1, False), (2, True)])
def test_gates_lie_in_0_1_and_rebuild_the_models_hidden_state(mode, impl, layers, bidirectional):
    torch.manual_seed(0)
    model = build_model(mode, dict(input_size=3, num_classes=4, hidden_size=6, num_layers=layers,
                                   bidirectional=bidirectional, impl=impl)).eval()
    x = torch.randn(2, 9, 3) * 2
    s = recurrent.gates_over_time(model.rnn, recurrent.recurrent_input(model, x))
    gates = [k for k in s if k.startswith("gate_")]
    assert gates == (["gate_input", "gate_forget", "gate_output"] if mode == "lstm" else ["gate_reset", "gate_update"])
    dirs = 2 if bidirectional else 1
    for k in gates:
        assert s[k].shape == (layers * dirs, 9, 6) and s[k].min() >= 0 and s[k].max() <= 1
    hidden = _rebuilt(mode, s, dirs)
    with torch.no_grad():
        out, state = model.rnn(x)
    h_n = (state[0] if mode == "lstm" else state)[:, 0].numpy()
    top = np.concatenate([hidden[-dirs + d] for d in range(dirs)], axis=-1)
    np.testing.assert_allclose(top, out[0].numpy(), atol=1e-5)
    for row in range(layers * dirs):  # every layer's final state: the last step forward, the first backward
        np.testing.assert_allclose(hidden[row][0 if row % 2 and bidirectional else -1], h_n[row], atol=1e-5)


def _rebuilt(mode: str, s: dict, dirs: int) -> np.ndarray:
    """The hidden state from the recorded gates alone: LSTM h = o tanh(c) with c = f c' + i g; GRU
    h = (1 - z) n + z h' (h' the step before, in the direction the layer reads)."""
    out = np.zeros_like(s["hidden"])
    for row in range(len(out)):
        steps = range(out.shape[1] - 1, -1, -1) if dirs == 2 and row % 2 else range(out.shape[1])
        h = c = np.zeros(out.shape[2])
        for t in steps:
            if mode == "lstm":
                c = s["gate_forget"][row, t] * c + s["gate_input"][row, t] * s["candidate"][row, t]
                np.testing.assert_allclose(c, s["cell"][row, t], atol=1e-5)
                h = s["gate_output"][row, t] * np.tanh(c)
            else:
                z = s["gate_update"][row, t]
                h = (1 - z) * s["candidate"][row, t] + z * h
            out[row, t] = h
    return out


def test_a_fused_model_that_differs_from_the_scratch_cells_is_refused():
    from dlnotes.errors import RunFailure

    model = build_model("lstm", dict(input_size=2, num_classes=2, hidden_size=3)).eval()
    x = torch.randn(1, 4, 2)
    broken = recurrent.as_scratch(model.rnn)
    broken.weight_hh_l0.data += 0.1
    with pytest.raises(RunFailure, match="differs"):
        recurrent._check("the scratch cells' output", broken(x)[0], model.rnn(x)[0], "the fused module's")


def test_top_losses_and_most_confused_against_hand_computed_ones():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 0.1], [5.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
    y = torch.tensor([0, 2, 2, 1, 2])
    top = interpret.top_losses(logits, y, k=3)
    losses = [-np.log(np.exp(r[t]) / np.exp(r).sum()) for r, t in zip(logits.numpy(), y.numpy())]
    assert top.index.tolist() == [3, 1, 4]  # 5.0 first; 1 and 4 tie, the earlier first
    np.testing.assert_allclose(top.loss.numpy(), np.array(losses)[[3, 1, 4]], rtol=1e-6)
    assert top.predicted.tolist() == [0, 1, 1] and top.truth.tolist() == [1, 2, 2]
    np.testing.assert_allclose(top.probability[0].item(), np.exp(5) / (np.exp(5) + 2), rtol=1e-6)
    one = interpret.top_losses(torch.tensor([[3.0], [-1.0]]), torch.tensor([0, 0]), k=1)  # one binary logit
    assert one.index.tolist() == [0] and one.loss.item() == pytest.approx(np.log1p(np.exp(3.0)))
    cm = [[5, 0, 2], [3, 4, 0], [2, 1, 9]]
    assert interpret.most_confused(cm, ["a", "b", "c"]) == [
        {"true": "b", "predicted": "a", "count": 3}, {"true": "a", "predicted": "c", "count": 2},
        {"true": "c", "predicted": "a", "count": 2}, {"true": "c", "predicted": "b", "count": 1}]
    assert interpret.most_confused(cm, ["a", "b", "c"], limit=1) == [{"true": "b", "predicted": "a", "count": 3}]


@pytest.mark.parametrize("name,args,target", [("logistic_regression", dict(in_features=4, num_classes=3), 2),
                                              ("logistic_regression", dict(in_features=4, num_classes=2), 0),
                                              ("logistic_regression", dict(in_features=4, num_classes=2), 1),
                                              ("linear_regression", dict(in_features=4), 0)])
def test_contributions_add_up_to_the_score(name, args, target):
    torch.manual_seed(0)
    model = build_model(name, args).eval()
    x = torch.randn(5, 4)
    contrib, bias = tabular.contributions(model, x, target)
    with torch.no_grad():
        out = model(x)
    score = attribution.class_score(out, target) if name == "logistic_regression" else out[:, 0]
    np.testing.assert_allclose(contrib.sum(1) + bias, score.numpy(), atol=1e-5)


def test_permutation_importance_finds_the_feature_the_score_uses():
    x = np.random.default_rng(0).normal(size=(300, 3))
    y = 2 * x[:, 1]
    mean, std = tabular.permutation_importance(lambda a, b: -float(((2 * a[:, 1] - b) ** 2).mean()), x, y, repeats=4)
    assert mean[0] == 0 and mean[2] == 0 and std[0] == 0
    assert mean[1] == pytest.approx(2 * 4 * np.var(x[:, 1]), rel=0.25)  # E(2 x - 2 x')^2 = 8 var x


def test_gradient_tracker_against_norms_taken_by_hand():
    from dlnotes.engine.tracking import GradientTracker

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 4), torch.nn.Sigmoid(),
                                torch.nn.Linear(4, 2))
    model[0].bias.data[:] = torch.tensor([-100.0, -100.0, 0.0, 0.0])  # two units that never fire
    model[2].bias.data[:] = torch.tensor([50.0, 0.0, 0.0, 0.0])  # one sigmoid always saturated
    tracker = GradientTracker(model)
    norms = []
    for step in range(3):
        model.zero_grad()
        model(torch.randn(8, 3)).pow(2).sum().backward()
        tracker.after_backward()
        norms.append([model[i].weight.grad.norm().item() for i in (0, 2, 4)])
    model.eval()
    model(torch.randn(8, 3) * 1000)  # evaluation passes do not count
    model.train()
    row = tracker.epoch_row()
    assert list(row)[:3] == ["grad_norm.0", "grad_norm.2", "grad_norm.4"]
    np.testing.assert_allclose([row["grad_norm.0"], row["grad_norm.2"], row["grad_norm.4"]], np.mean(norms, 0), rtol=1e-6)
    assert row["dead_relu.1"] == 0.5
    assert 0.25 <= row["saturated.3"] < 0.5
    assert tracker.steps == 0  # the next epoch starts afresh


def test_the_deep_sigmoid_networks_gradient_vanishes_and_the_relu_ones_does_not(root):
    """One epoch of each teaching config through the training loop alone (no test pass, no figures)."""
    from dlnotes.collect import load_data
    from dlnotes.config import load_config
    from dlnotes.engine.device import seed_everything
    from dlnotes.engine.trainer import Trainer
    from dlnotes.models import model_args

    ratios = {}
    for act in ("sigmoid", "relu"):
        cfg = load_config(root / f"configs/mlp_{act}_deep_digits.yaml", ["train.epochs=1"])
        seed_everything(cfg.seed)
        data = load_data(cfg)
        model = build_model(cfg.model.name, model_args(cfg.model.name, cfg.extras("model"), data.model_inputs()))
        row = Trainer(cfg, model, data, torch.device("cpu"), quiet=True).fit()[0]
        norms = [row[k] for k in row if k.startswith("grad_norm.")]
        assert len(norms) == 7  # six hidden layers and the output, input to output
        ratios[act] = norms[-1] / norms[0]
    assert ratios["sigmoid"] >= 10, ratios  # the first layer's norm at least 10x smaller than the last's
    assert ratios["relu"] < 10, ratios
