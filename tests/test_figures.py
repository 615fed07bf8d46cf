"""Every figure rendered with awkward inputs, and checked the way a reader would look at it.

The checks use matplotlib's own text bounding boxes after a real draw: every title, axis label,
tick label and legend lies inside the figure; no two texts overlap (tick labels of one axis
included); a legend does not lie on a plotted curve; epochs sit on whole-number ticks.
"""

from __future__ import annotations

import pytest
import torch

from dlnotes import plots

LONG = ["circle", "square", "triangle", "a rather long class name", "pentagon"]


@pytest.fixture
def drawn(monkeypatch, tmp_path):
    """Calls a plots function and returns the Figure it would have saved (the PNG is written too)."""
    figures = []

    def keep(fig, path):
        figures.append(fig)
        fig.savefig(path, dpi=110)  # the same as _save, without closing the figure
        return path

    monkeypatch.setattr(plots, "_save", keep)

    def draw(fn, *args, **kwargs):
        figures.clear()
        out = fn(*args, tmp_path / f"{fn.__name__}.png", **kwargs)
        assert out is not None and out.stat().st_size > 1000
        assert len(figures) == 1
        return figures[0]

    yield draw
    for fig in figures:
        plots.plt.close(fig)


def _texts(fig):
    """(what, Text) for every visible, non-empty text a reader sees around the axes."""
    out = []
    if fig._suptitle is not None:
        out.append(("suptitle", fig._suptitle))
    for legend in fig.legends:
        out.append(("figure legend", legend))
    for n, ax in enumerate(fig.axes):
        for t in (ax.title, ax._left_title, ax._right_title):
            out.append((f"axes {n} {t.get_text()!r}", t))
        if not ax.axison:  # an image shown without axes: only its title shows
            continue
        for t in (ax.xaxis.label, ax.yaxis.label):
            out.append((f"axes {n} {t.get_text()!r}", t))
        for which in ("x", "y"):
            axis = getattr(ax, f"{which}axis")
            lo, hi = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks():
                if lo - 1e-9 <= tick.get_loc() <= hi + 1e-9:
                    for label in (tick.label1, tick.label2):
                        out.append((f"axes {n} {which} tick {label.get_text()!r}", label))
        if ax.get_legend() is not None:
            out.append((f"axes {n} legend", ax.get_legend()))
    return [(w, t) for w, t in out if t.get_visible() and (not hasattr(t, "get_text") or t.get_text())]


def defects(fig) -> list[str]:
    """What a reader would call broken: clipped or overlapping texts, legends lying on curves."""
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    frame = fig.bbox
    boxes = [(w, t.get_window_extent(r)) for w, t in _texts(fig)]
    found = []
    for w, b in boxes:
        if b.x0 < frame.x0 - 1 or b.y0 < frame.y0 - 1 or b.x1 > frame.x1 + 1 or b.y1 > frame.y1 + 1:
            found.append(f"{w} is clipped by the figure's edge")
    for i, (w1, b1) in enumerate(boxes):
        for w2, b2 in boxes[i + 1:]:
            inter = b1.intersection(b1, b2)
            if inter is not None and inter.width > 1 and inter.height > 1:
                found.append(f"{w1} overlaps {w2}")
    legends = [lg for lg in fig.legends] + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    for lg in legends:
        box = lg.get_window_extent(r)
        for ax in fig.axes:
            for line in ax.get_lines():
                xy = line.get_transform().transform(line.get_xydata())
                inside = ((xy[:, 0] > box.x0) & (xy[:, 0] < box.x1) & (xy[:, 1] > box.y0) & (xy[:, 1] < box.y1))
                if inside.any() and line.get_label() and not line.get_label().startswith("_"):
                    found.append(f"a legend lies on the curve {line.get_label()!r}")
    return found


def _visible_xticks(ax):
    lo, hi = sorted(ax.get_xlim())
    return [t for t in ax.get_xticks() if lo - 1e-9 <= t <= hi + 1e-9]


@pytest.mark.parametrize("epochs", [1, 2, 7, 200])
def test_learning_curves_put_epochs_on_whole_number_ticks(drawn, epochs):
    history = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.1 / e, "val_accuracy": 1 - 1 / (e + 1), "lr": 1e-3}
               for e in range(1, epochs + 1)]
    fig = drawn(plots.learning_curves, history, "accuracy")
    assert defects(fig) == []
    for ax in fig.axes:
        ticks = _visible_xticks(ax)
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
        assert len(ticks) <= 12
    if epochs == 1:
        assert _visible_xticks(fig.axes[0]) == [1]


def test_learning_curves_without_a_validation_metric_show_the_lr(drawn):
    history = [{"epoch": e, "train_loss": 1 / e, "lr": 0.1 * 0.9 ** e} for e in range(1, 4)]
    fig = drawn(plots.learning_curves, history, "r2")
    assert defects(fig) == []
    assert fig.axes[1].get_title() == "learning rate"


@pytest.mark.parametrize("classes", [["0"], [str(d) for d in range(10)], LONG,
                                     [f"a long class name number {n}" for n in range(40)]],
                         ids=["one class", "digits", "words", "40 long names"])  # 40 short names stand upright too
def test_confusion_matrix_names_never_run_together(drawn, classes):
    k = len(classes)
    g = torch.Generator().manual_seed(0)
    cm = torch.randint(0, 200, (k, k), generator=g).tolist()
    fig = drawn(plots.confusion, cm, classes)
    assert defects(fig) == []
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == classes


@pytest.mark.parametrize("classes,mistakes", [([str(d) for d in range(10)], 1), (LONG, 1), (LONG, 3),
                                              ([str(d) for d in range(10)], 40)])
def test_misclassified_titles_are_whole_and_say_true_and_predicted(drawn, classes, mistakes):
    n = 60
    truth = torch.arange(n) % len(classes)
    pred = truth.clone()
    pred[:mistakes] = (truth[:mistakes] + 1) % len(classes)
    images = torch.rand(n, 1, 8, 8)
    fig = drawn(plots.misclassified, images, truth, pred, classes)
    assert defects(fig) == []
    assert fig._suptitle.get_text() == f"misclassified test images ({mistakes} of {n})"
    captions = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(captions) == min(mistakes, 25)
    assert captions[0] == f"true {classes[0]}\npredicted {classes[1]}"


def test_misclassified_draws_nothing_without_mistakes(tmp_path):
    y = torch.arange(4)
    assert plots.misclassified(torch.rand(4, 1, 8, 8), y, y, ["a", "b", "c", "d"], tmp_path / "m.png") is None


@pytest.mark.parametrize("windows", [1, 4, 200])
@pytest.mark.parametrize("horizon", [1, 3])
def test_forecast_legend_lies_outside_the_curves(drawn, windows, horizon):
    series = torch.sin(torch.linspace(0, 30, 30 + windows + horizon))
    history = series[:30]
    truth = torch.stack([series[30 + k:30 + k + horizon] for k in range(windows)])
    naive = torch.cat([series[29:30], truth[:-1, 0]])
    fig = drawn(plots.forecasts, history, truth, truth + 0.05, naive, 1)
    assert defects(fig) == []
    assert fig.legends, "the legend is drawn once, outside the panels"


def test_history_and_forecast_figure(drawn):
    history, forecast = torch.randn(3, 50), torch.randn(3, 10)
    fig = drawn(plots.history_forecast, history, forecast, ["a.csv:0", "a.csv:1", "a.csv:2"])
    assert defects(fig) == []


def test_activations_relu_stays_visible_beside_leaky_relu(drawn):
    fig = drawn(plots.activation_functions)
    assert defects(fig) == []
    for ax in fig.axes:
        lines = {ln.get_label(): ln for ln in ax.get_lines()}
        relu, leaky = lines["relu"], lines["leaky_relu (slope 0.1)"]
        under, over = sorted((relu, leaky), key=lambda ln: ln.get_zorder())
        assert under.get_zorder() < over.get_zorder()
        # where they coincide (x > 0) the one on top is thinner and broken, so the one beneath shows
        assert under.get_linewidth() > 1.5 * over.get_linewidth()
        assert over.get_linestyle() not in ("-", "solid")


@pytest.mark.parametrize("n", [1, 500])
def test_regression_figures(drawn, n):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 1, generator=g)
    y = 3 * x + 1 + 0.1 * torch.randn(n, 1, generator=g)
    assert defects(drawn(plots.predicted_vs_true, y + 0.2, y)) == []
    assert defects(drawn(plots.fitted_line, x, y, 3.0, 1.0)) == []
    ws, bs = torch.linspace(0, 6, 31), torch.linspace(-2, 4, 31)
    loss = ((ws[:, None, None] * x.reshape(1, 1, -1) + bs[None, :, None] - y.reshape(1, 1, -1)) ** 2).mean(-1)
    loss = loss + 1e-3  # log10 of the heatmap stays finite
    path = ([0.0, 1.5, 2.5, 3.0], [0.0, 0.5, 0.9, 1.0])
    assert defects(drawn(plots.loss_surface, loss, ws, bs, (3.0, 1.0), descent=path)) == []
    assert defects(drawn(plots.loss_surface, loss, ws, bs, (3.0, 1.0))) == []


# -- issue 28: the figures of dlnotes explain, top losses and gradients ------------------------------------

def _names(n: int, long: bool = False) -> list[str]:
    return [f"a long class name number {k}" if long else f"class {k}" for k in range(n)]


@pytest.mark.parametrize("channels,size", [(1, 28), (3, 16), (96, 55), (384, 3), (16, 1)])
def test_feature_maps_of_1_3_and_96_channels(drawn, channels, size):
    from dlnotes.explain import figures
    from dlnotes.explain.activations import FeatureMaps

    maps = torch.rand(channels, size, size, generator=torch.Generator().manual_seed(0)).numpy()
    fig = drawn(figures.feature_maps, FeatureMaps("features.10", "Conv2d", maps, (channels, size, size)))
    assert defects(fig) == []
    assert fig.axes[0].get_title().startswith(f"features.10 (Conv2d): {channels} x {size} x {size}")


@pytest.mark.parametrize("out_c,in_c", [(6, 1), (96, 3), (16, 96)])
def test_filters_and_input_of_1_3_and_96_channels(drawn, out_c, in_c):
    from dlnotes.explain import figures

    g = torch.Generator().manual_seed(0)
    fig = drawn(figures.filters, torch.randn(out_c, in_c, 5, 5, generator=g).numpy(), "features.0")
    assert defects(fig) == []
    assert fig.axes[0].get_title().startswith(f"features.0: {out_c} filters of {in_c} x 5 x 5")
    plots.plt.close(fig)  # drawn() keeps only the last figure to close
    c = min(in_c, 3)
    fig = drawn(figures.input_image, torch.randn(c, 28, 28, generator=g).numpy(),
                f"input as the model sees it: {c} x 28 x 28 (normalised)")
    assert defects(fig) == []


@pytest.mark.parametrize("classes,layer", [(1, "features.11"), (40, "features.11"), (40, None)])
def test_gradcam_figure_with_long_class_names(drawn, classes, layer):
    from dlnotes.explain import figures

    g = torch.Generator().manual_seed(0)
    names = _names(classes, long=True)
    rows = [{"label": f"predicted: {names[-1]}", "cam": torch.rand(6, 6, generator=g).numpy(),
             "upsampled": torch.rand(28, 28, generator=g).numpy(), "saliency": torch.rand(3, 28, 28, generator=g).numpy()},
            {"label": f"--target: {names[0]}", "cam": torch.zeros(6, 6).numpy(), "upsampled": torch.zeros(28, 28).numpy(),
             "saliency": torch.rand(3, 28, 28, generator=g).numpy()}]
    fig = drawn(figures.gradcam, torch.rand(3, 28, 28, generator=g).numpy(), rows, layer)
    assert defects(fig) == []
    assert len([ax for ax in fig.axes if ax.get_title()]) == (8 if layer else 4)  # no conv layer: saliency alone


def test_lrn_figure(drawn):
    from dlnotes.explain import figures
    from dlnotes.explain.activations import LRNEffect

    a = torch.rand(96, 55, 55).numpy()
    fig = drawn(figures.lrn, LRNEffect("features.2", a, a / 1.7, 0.61234, 0.61301, (1.6818, 1.7)))
    assert defects(fig) == []
    assert "0.6123" in fig.axes[0].get_title() and "0.6130" in fig.axes[1].get_title()


@pytest.mark.parametrize("keys,rows,dirs", [(["gate_input", "gate_forget", "gate_output", "cell", "hidden"], 1, 1),
                                            (["gate_reset", "gate_update", "hidden"], 2, 2), (["hidden"], 1, 1)])
def test_gates_figure(drawn, keys, rows, dirs):
    from dlnotes.explain import figures

    states = {k: torch.rand(rows, 40, 64).numpy() for k in keys}
    fig = drawn(figures.gates, states, dirs)
    assert defects(fig) == []


@pytest.mark.parametrize("n", [1, 60])
def test_contribution_bars_and_sequence(drawn, n):
    from dlnotes.explain import figures

    g = torch.Generator().manual_seed(0)
    names = [f"feature with a rather long name {k}" for k in range(n)]
    values = torch.randn(n, generator=g).numpy()
    fig = drawn(figures.bars, names, values, "w_i x_i: each feature's part in the score of class benign (bias 0.3)",
                "contribution", errors=abs(values) / 5)
    assert defects(fig) == []
    assert len(fig.axes[0].get_yticklabels()) == min(n, 20)
    plots.plt.close(fig)
    fig = drawn(figures.sequence, torch.randn(40, n % 9 + 1, generator=g).numpy(), torch.rand(40, 2).numpy(),
                "the input sequence as the model sees it")
    assert defects(fig) == []


@pytest.mark.parametrize("drawn_as,shape,classes,shown,long", [
    ("picture", (1, 8, 8), 1, 1, False), ("picture", (1, 8, 8), 40, 25, True), ("picture", (3, 16, 16), 10, 25, False),
    ("curves", (40, 1), 40, 25, True), (None, (6,), 40, 25, True), (None, (6,), 2, 3, False)])
def test_top_losses_for_1_to_40_classes(drawn, drawn_as, shape, classes, shown, long):
    g = torch.Generator().manual_seed(0)
    names = _names(classes, long)
    truth = torch.arange(shown) % classes
    pred = (truth + 1) % classes
    fig = drawn(plots.top_losses, torch.rand(shown, *shape, generator=g), truth, pred, torch.rand(shown, generator=g),
                torch.rand(shown, generator=g) * 5, names, drawn_as, 500)
    assert defects(fig) == []
    assert fig._suptitle.get_text() == f"test examples with the highest loss ({shown} of 500)"
    if drawn_as is not None:
        assert fig.axes[0].get_title().startswith(f"true {names[0]}\npredicted {names[1 % classes]} (")


@pytest.mark.parametrize("epochs,layers,units", [
    (1, ["net.1", "net.3", "net.5"], ["dead_relu.net.2"]), (200, ["net.1", "net.3", "net.5"], ["dead_relu.net.2"]),
    (3, [f"features.{k}" for k in range(0, 24, 3)] + ["classifier.2", "classifier.5"],
     [f"saturated.features.{k}" for k in range(1, 24, 3)]), (1, ["linear"], [])])
def test_gradients_figure(drawn, epochs, layers, units):
    history = [{"epoch": e, "train_loss": 1.0, **{f"grad_norm.{n}": 10.0 ** (k - len(layers)) * e for k, n in enumerate(layers)},
                **{u: 0.1 * k for k, u in enumerate(units)}} for e in range(1, epochs + 1)]
    fig = drawn(plots.gradients, history)
    assert defects(fig) == []
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == layers
    assert plots.gradients([{"epoch": 1, "train_loss": 1.0}], None) is None
