"""``dlnotes explain``: one input of a trained run, looked at from every side its model has.

    images     input.png (the prepared tensor), maps_<layer>.png (every conv and pool layer), filters.png
               (the first layer's), lrn_<layer>.png (AlexNet), gradcam.png (classifiers: Grad-CAM and
               saliency for the predicted class and --target, with the randomised-model sanity check)
    sequences  gates.png (LSTM and GRU gates, cell, hidden state; the hidden state of a plain RNN) and
               sequence.png (the input, and a classifier's saliency per step)
    tables     contributions.png (w_i x_i, linear and logistic regression) or importance.png
               (permutation importance on the test split, other models)

Everything drawn is also in ``explain.npz`` (numpy arrays, no pickles): ``input``, ``activation:<layer>``,
``filters``, ``lrn_before:<layer>``/``lrn_after:<layer>``/``lrn_contrast:<layer>``/``lrn_divisor:<layer>``,
``gradcam``,
``gradcam_upsampled``, ``gradcam_layer``, ``saliency`` (and ``*_target`` for --target), ``sanity``,
``gate_*``/``candidate``/``cell``/``hidden``, ``contributions``/``bias`` or ``importance``/``importance_std``,
``probabilities``, ``predicted``. Everything is computed before the folder is made, so a bad --layer or
--target writes nothing; the files are then written whole or not at all (``dlnotes.atomic``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from dlnotes.errors import UserError
from dlnotes.explain import activations, attribution, figures, recurrent, tabular
from dlnotes.explain.layers import conv_layers, last_conv_maps, layer as find_layer


@dataclass
class Explanation:
    """What ``explain`` found: the arrays of explain.npz, the figures to draw (file name -> draw into a
    path), and lines for the user."""

    arrays: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, Callable[[Path], Path]] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)


def explain(run, source: str, layer: str | None = None, target: str | None = None) -> tuple[Path, list[Path], list[str]]:
    """Explains the first input at ``source`` with the model of ``run`` (a ``dlnotes.Run``); writes the
    figures and explain.npz into RUN/explain/<input stem>/. Returns the folder, the files and the lines."""
    from dlnotes.engine.rundir import RunDir
    from dlnotes.engine.weights import unwrap

    spec, model = run.spec, unwrap(run.model)
    names, x = read_input(spec, source)
    x = x[:1] if spec.kind.name != "tabular" else x  # one input; every row of a table
    x = x.to(next(model.parameters()).device)
    ex = Explanation()
    target_class = class_index(target, spec.classes) if target is not None else None
    if spec.kind.image:
        _image(ex, model, x, spec, layer, target_class)
    elif spec.kind.name == "tabular":
        _predict(ex, model, x, spec)
        _table(ex, model, x, spec, run, target_class)
    else:
        _predict(ex, model, x, spec)
        _sequence(ex, model, x, spec, target_class)
    stem = Path(source).stem if spec.kind.name != "text" else "prompt"
    folder = RunDir(run.path).explain_dir(stem or "input")
    return folder, write(ex, folder, Path(source)), [f"explaining {names[0]}"] + ex.lines


def read_input(spec, source: str) -> tuple[list[str], torch.Tensor]:
    """The user's input, read and normalised exactly as ``predict`` does: (names, batch)."""
    from dlnotes.data.prepare import normalize

    if spec.kind.name == "text":
        vocab = spec.pre["vocab"]
        unknown = sorted({c for c in source if c not in vocab})
        if not source or unknown:
            raise UserError(f"--input: give a prompt of characters the training text has (unknown: {unknown})")
        return [source], torch.tensor([[vocab.index(c) for c in source]])
    path = Path(source)
    if path.is_dir():
        raise UserError(f"--input '{path}' is a folder; explain looks at one input file at a time")
    names, raw = spec.kind.read(path, spec.dataset, spec.pre)
    if raw.dim() == 5:  # ten crops per image (a streamed run's test view): the centre one
        raw = raw[:, 4]
    return names, normalize(raw.float(), spec.pre)


def class_index(target: str, classes: list[str]) -> int:
    """--target as a class name, or as a class number when no class has that name."""
    if not classes:
        raise UserError("--target names a class; this run's model is not a classifier")
    if target in classes:
        return classes.index(target)
    if target.isdigit() and int(target) < len(classes):
        return int(target)
    shown = ", ".join(classes[:20]) + (" ..." if len(classes) > 20 else "")
    raise UserError(f"--target '{target}': not a class of this run; its classes are: {shown}")


def _predict(ex: Explanation, model, x: torch.Tensor, spec, out: torch.Tensor | None = None) -> None:
    """The predicted class and the probabilities (classifiers), from ``out`` when given."""
    from dlnotes.engine.metrics import labels, probabilities

    if out is None:
        with torch.no_grad():
            out = model.eval()(x)
    out = out.float()
    if not spec.classes or out.dim() != 2:
        return
    probs, pred = probabilities(out.cpu()), labels(out.cpu(), spec.threshold)
    ex.arrays.update(probabilities=probs.numpy(), predicted=pred.numpy())
    ex.lines.append(f"predicted: {spec.classes[int(pred[0])]} (probability {float(probs[0, pred[0]]):.4f})")


def _image(ex: Explanation, model, x: torch.Tensor, spec, layer: str | None, target: int | None) -> None:
    if layer is not None:
        find_layer(model, layer)  # an unknown name is refused before anything is computed
    ex.arrays["input"] = image = x[0].cpu().numpy()
    c, h, w = x.shape[1:]
    ex.figures["input.png"] = partial(figures.input_image, image,
                                      f"input as the model sees it: {c} x {h} x {w} (normalised)")
    seen = activations.inside(model, x)  # the output, the maps and LRN's effect in one pass
    _predict(ex, model, x, spec, seen.output)
    for fm in seen.maps:
        ex.arrays[f"activation:{fm.name}"] = fm.maps
        ex.figures[f"maps_{fm.name}.png"] = partial(figures.feature_maps, fm)
    kernels = activations.first_filters(model)
    if kernels is not None:
        ex.arrays["filters"] = kernels
        ex.figures["filters.png"] = partial(figures.filters, kernels, conv_layers(model)[0])
    for effect in seen.lrn:
        ex.arrays.update({f"lrn_before:{effect.name}": effect.before, f"lrn_after:{effect.name}": effect.after,
                          f"lrn_contrast:{effect.name}": np.array([effect.contrast_before, effect.contrast_after]),
                          f"lrn_divisor:{effect.name}": np.array(effect.divisor)})
        ex.figures[f"lrn_{effect.name}.png"] = partial(figures.lrn, effect)
        ex.lines.append(f"{effect.name} (LRN): divides by {effect.divisor[0]:.4g} to {effect.divisor[1]:.4g}; local "
                        f"contrast {effect.contrast_before:.4f} before, {effect.contrast_after:.4f} after")
    if spec.classes:  # Grad-CAM needs maps: a network without convolutions gets saliency alone
        _gradcam(ex, model, x, spec, layer or (last_conv_maps(model) if conv_layers(model) else None), target)


def _gradcam(ex: Explanation, model, x: torch.Tensor, spec, layer: str | None, target: int | None) -> None:
    """Grad-CAM (at ``layer``, when given) and saliency for the predicted class (and ``target``), and the
    sanity check."""
    predicted = int(ex.arrays["predicted"][0])
    rows = []
    for suffix, c in [("", predicted)] + ([("_target", target)] if target is not None else []):
        try:
            cam, sal = attribution.gradcam_and_saliency(model, x, layer, c)
        except ValueError as e:  # a layer without maps (a fully connected one)
            raise UserError(f"--layer: {e}; choose a conv, pool or activation layer of the feature extractor") from None
        up = attribution.upsampled(cam, tuple(x.shape[-2:])) if cam is not None else None
        label = ("predicted: " if not suffix else "--target: ") + spec.classes[c]
        rows.append({"label": label, "cam": None if cam is None else cam[0], "saliency": sal[0],
                     "upsampled": None if cam is None else up[0]})
        ex.arrays[f"saliency{suffix}"] = sal[0]
        if cam is not None:
            ex.arrays.update({f"gradcam{suffix}": cam[0], f"gradcam_upsampled{suffix}": up[0]})
    if layer is not None:
        ex.arrays["gradcam_layer"] = np.array(layer)
    ex.figures["gradcam.png" if layer else "saliency.png"] = partial(figures.gradcam, x[0].cpu().numpy(), rows, layer)
    cam, sal = attribution.gradcam_and_saliency(attribution.randomised(model), x, layer, predicted)
    sanity = np.array([attribution.rank_correlation(cam[0], rows[0]["cam"]) if layer else np.nan,
                       attribution.rank_correlation(sal[0], rows[0]["saliency"])])
    ex.arrays["sanity"] = sanity
    ex.lines.append(f"{f'Grad-CAM at {layer}; ' if layer else ''}sanity check (Adebayo et al. 2018): rank "
                    f"correlation with the maps of the model re-initialised, for this input (near 0: the maps depend "
                    f"on what was learned): Grad-CAM {sanity[0]:.2f}, saliency {sanity[1]:.2f}")


def _sequence(ex: Explanation, model, x: torch.Tensor, spec, target: int | None) -> None:
    from dlnotes.models.recurrent import RecurrentNet

    ex.arrays["input"] = x[0].cpu().numpy()
    if isinstance(model, RecurrentNet):
        states = recurrent.gates_over_time(model.rnn, recurrent.recurrent_input(model, x))
        ex.arrays.update(states)
        ex.figures["gates.png"] = partial(figures.gates, states, 2 if model.rnn.bidirectional else 1)
        ex.lines.append(f"{recurrent.mode_of(model.rnn).upper()} states recorded over {x.shape[1]} steps "
                        f"(checked against the model's own output)")
    if spec.kind.name == "text":
        return
    series = x[0].cpu().numpy().reshape(x.shape[1], -1)
    sal = None
    if spec.classes:
        c = target if target is not None else int(ex.arrays["predicted"][0])
        sal = attribution.saliency(model, x, c)[0]
        ex.arrays["saliency"] = sal
    ex.figures["sequence.png"] = partial(figures.sequence, series, sal, "the input sequence as the model sees it")


def _table(ex: Explanation, model, x: torch.Tensor, spec, run, target: int | None) -> None:
    names = feature_names(spec, x.shape[1])
    ex.arrays.update(input=x.cpu().numpy(), feature_names=np.array(names))
    if tabular.is_linear(model):
        c = target if target is not None else int(ex.arrays.get("predicted", [0])[0])
        contrib, bias = tabular.contributions(model, x, c)
        ex.arrays.update(contributions=contrib, bias=np.array(bias))
        what = f"class {spec.classes[c]}" if spec.classes else "the prediction"
        ex.figures["contributions.png"] = partial(
            figures.bars, names, contrib[0], f"w_i x_i: each feature's part in the score of {what} (bias {bias:.3g})",
            "contribution (x standardised)")
        return
    mean, std = tabular.permutation_importance(partial(_score, model, spec), run.data.test.x.numpy(),
                                               run.data.test.y.numpy(), seed=run.config.seed)
    ex.arrays.update(importance=mean, importance_std=std)
    ex.figures["importance.png"] = partial(figures.bars, names, mean,
                                           f"permutation importance on the test split ({spec.task.metric})",
                                           f"drop in {spec.task.metric} when shuffled", errors=std)
    ex.lines.append("permutation importance on the test split (the same for every input)")


def _score(model, spec, x: np.ndarray, y: np.ndarray) -> float:
    """The task's main metric of ``model`` on (x, y), higher is better."""
    from dlnotes.engine.evaluate import predict_outputs

    out = predict_outputs(model, torch.from_numpy(x), 4096, next(model.parameters()).device).cpu()
    m = spec.task.metrics(out, torch.from_numpy(y), spec.pre, len(spec.classes), spec.threshold, float("nan"))
    return m[spec.task.metric] if spec.task.higher_is_better else -m[spec.task.metric]


def feature_names(spec, n: int) -> list[str]:
    """The model's input columns: the encoded columns of a csv run (one-hot levels...), else the dataset's."""
    names = spec.dataset.get("feature_names") or []
    if "tabular" in spec.pre:
        from dlnotes.data.tabular import TabularTransform

        names = TabularTransform.from_dict(spec.pre["tabular"]).outputs()
    return list(names) if len(names) == n else [f"x{i}" for i in range(n)]


def write(ex: Explanation, folder: Path, source: Path) -> list[Path]:
    """The figures, then explain.npz; a file that would replace the input itself is refused first."""
    from dlnotes.atomic import atomic_write

    planned = [folder / name for name in [*ex.figures, "explain.npz"]]
    if source.exists() and any(p.resolve() == source.resolve() for p in planned):
        raise UserError(f"--input '{source}' lies where explain writes its output; move it elsewhere first")
    written = [draw(folder / name) for name, draw in ex.figures.items()]
    buf = io.BytesIO()
    np.savez_compressed(buf, **{k: np.asarray(v) for k, v in ex.arrays.items()})
    atomic_write(folder / "explain.npz", buf.getvalue())
    return written + [folder / "explain.npz"]
