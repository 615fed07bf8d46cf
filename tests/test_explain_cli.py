"""``dlnotes explain`` on trained runs (in this process): what it writes, where, and what it refuses;
and the model-randomisation sanity check on a trained LeNet."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

import dlnotes
from dlnotes.config import validate
from dlnotes.explain import attribution
from dlnotes.explain.layers import last_conv_maps

pytestmark = pytest.mark.usefixtures("no_figures")  # runs here skip their figures: tests/figures_off.py

@pytest.fixture
def explain():
    """``explain(RUN, INPUT, *more)`` runs ``dlnotes explain`` in this process: (exit code, stdout, stderr)."""
    from typer.testing import CliRunner

    from dlnotes.cli import app

    def run(path, source, *more):
        r = CliRunner().invoke(app, ["explain", "--run", str(path), "--input", str(source), *map(str, more)])
        return r.exit_code, r.stdout, r.stderr
    return run


def _train(root, data: dict, model: dict, epochs: int, name: str):
    import warnings

    cfg = validate({"name": name, "seed": 0, "data": data, "model": model,
                    "train": {"epochs": epochs, "optimizer": {"name": "adam", "lr": 0.01}}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a 5-epoch logistic regression has not converged: not the point here
        return dlnotes.train(cfg, out=root / name, quiet=True)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A LeNet on 16x16 digits, an LSTM reading digits row by row, logistic regression and an MLP on iris,
    with one input file for each (a few seconds in all)."""
    from PIL import Image

    root = tmp_path_factory.mktemp("explain_runs")
    lenet = _train(root, {"name": "digits", "image_size": 16}, {"name": "lenet", "activation": "relu", "pool": "max"},
                   2, "lenet")
    lstm = _train(root, {"name": "digits_rows"}, {"name": "lstm", "hidden_size": 12, "num_layers": 2}, 1, "lstm")
    logreg = _train(root, {"name": "iris", "val_fraction": 0.0}, {"name": "logistic_regression"}, 5, "logreg")
    mlp = _train(root, {"name": "iris", "val_fraction": 0.0}, {"name": "mlp", "hidden_sizes": [8]}, 5, "mlp")
    pixels = _train(root, {"name": "digits", "image_size": 8}, {"name": "mlp", "hidden_sizes": [16]}, 1, "pixels")
    from sklearn.datasets import load_digits, load_iris

    digits = load_digits()
    Image.fromarray((digits.images[7] * 255 / 16).astype(np.uint8)).resize((32, 32)).save(root / "seven.png")
    np.save(root / "row.npy", digits.images[7].astype(np.float32) / 16)
    iris = load_iris()
    rows = ["sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)"]
    rows += [",".join(map(str, r)) for r in iris.data[[0, 60, 120]]]
    (root / "flowers.csv").write_text("\n".join(rows) + "\n")
    return {"lenet": lenet, "lstm": lstm, "logreg": logreg, "mlp": mlp, "pixels": pixels, "root": root}


def test_maps_of_a_reinitialised_model_do_not_rank_correlate_with_the_trained_ones(runs):
    """Adebayo et al. 2018's model-randomisation test on 16 test digits: saliency's rank correlation
    stays below 0.5 on every one; Grad-CAM's 4x4 maps (16 values) scatter more from digit to digit, so
    its mean is taken (a map that ignored the weights would correlate on every digit)."""
    model, x = runs["lenet"].model, runs["lenet"].data.test.x[:16]
    assert runs["lenet"].metrics["accuracy"] > 0.7
    name, pred = last_conv_maps(model), model(x).argmax(1).tolist()
    for seed in (0, 1):
        fresh = attribution.randomised(model, seed=seed)
        assert not torch.equal(fresh.features[0].weight, model.features[0].weight)
        cam, cam0 = (attribution.gradcam(m, x, name, pred) for m in (model, fresh))  # one row per digit
        sal, sal0 = (attribution.saliency(m, x, pred) for m in (model, fresh))
        cams = [attribution.rank_correlation(a, b) for a, b in zip(cam, cam0)]
        sals = [attribution.rank_correlation(a, b) for a, b in zip(sal, sal0)]
        assert max(sals) < 0.5, sals
        assert np.isnan(cams).sum() <= 4 and np.nanmean(cams) < 0.5, cams  # NaN: a map all 0
    same = attribution.rank_correlation(attribution.saliency(model, x[:1], pred[0]), attribution.saliency(model, x[:1], pred[0]))
    assert same == pytest.approx(1.0)


def _copy(run, tmp_path):
    return shutil.copytree(run.path, tmp_path / run.path.name)


def test_an_image_gets_maps_filters_gradcam_and_saliency(runs, explain, tmp_path):
    path = _copy(runs["lenet"], tmp_path)
    code, out, err = explain(path, runs["root"] / "seven.png", "--target", "1")
    assert code == 0, err
    folder = path / "explain" / "seven"
    names = {p.name for p in folder.iterdir()}
    assert names == {"input.png", "maps_features.0.png", "maps_features.2.png", "maps_features.3.png",
                     "maps_features.5.png", "filters.png", "gradcam.png", "explain.npz"}
    assert out.split() == [str(folder / n) for n in ["input.png", "maps_features.0.png", "maps_features.2.png",
                                                     "maps_features.3.png", "maps_features.5.png", "filters.png",
                                                     "gradcam.png", "explain.npz"]]
    assert "predicted:" in err and "sanity check" in err
    with np.load(folder / "explain.npz", allow_pickle=False) as z:
        a = dict(z)
    assert a["input"].shape == (1, 16, 16) and a["saliency"].shape == (1, 16, 16)
    assert a["activation:features.0"].shape == (6, 16, 16) and a["activation:features.5"].shape == (16, 2, 2)
    assert str(a["gradcam_layer"]) == "features.4" and a["gradcam"].shape == (4, 4)  # 16 -> 16 -> 8 -> 4
    assert a["gradcam_upsampled"].shape == (16, 16) and a["gradcam_target"].shape == (4, 4)
    assert a["filters"].shape == (6, 1, 5, 5) and a["sanity"].shape == (2,)
    model = runs["lenet"].model  # the arrays are what the model computes for the prepared input
    x = torch.from_numpy(a["input"])[None]
    with torch.no_grad():
        np.testing.assert_allclose(a["probabilities"][0], torch.softmax(model(x), 1)[0].numpy(), atol=1e-6)
        np.testing.assert_allclose(a["activation:features.0"], model.features[0](x)[0].numpy(), atol=1e-5)
    assert "explain" in (path / ".dlnotes").read_text()  # the ledger lists it: a resume sees no stranger
    code, _, err = explain(path, runs["root"] / "seven.png", "--layer", "features.0")  # again: replaced
    assert code == 0, err
    with np.load(folder / "explain.npz", allow_pickle=False) as z:
        assert str(z["gradcam_layer"]) == "features.0" and z["gradcam"].shape == (16, 16)
        assert "gradcam_target" not in z


def test_an_image_model_without_convolutions_gets_saliency_alone(runs, explain, tmp_path):
    path = _copy(runs["pixels"], tmp_path)
    code, _, err = explain(path, runs["root"] / "seven.png", "--target", "7")
    assert code == 0, err
    folder = path / "explain" / "seven"
    assert {p.name for p in folder.iterdir()} == {"input.png", "saliency.png", "explain.npz"}
    with np.load(folder / "explain.npz", allow_pickle=False) as z:
        assert z["saliency"].shape == z["saliency_target"].shape == (1, 8, 8) and "gradcam" not in z
        assert np.isnan(z["sanity"][0]) and 0 <= abs(z["sanity"][1]) <= 1


def test_bad_layer_target_and_inputs_are_refused_before_anything_is_written(runs, explain, tmp_path):
    path = _copy(runs["lenet"], tmp_path)
    seven = runs["root"] / "seven.png"
    code, _, err = explain(path, seven, "--layer", "features.9")
    assert code == 2 and "--layer 'features.9': no such layer" in err and "features.4" in err
    code, _, err = explain(path, seven, "--layer", "classifier.1")  # a fully connected layer has no maps
    assert code == 2 and "--layer: layer 'classifier.1' outputs shape (1, 120)" in err
    code, _, err = explain(path, seven, "--target", "eleven")
    assert code == 2 and "--target 'eleven': not a class of this run" in err
    code, _, err = explain(path, runs["root"])
    assert code == 2 and "is a folder" in err
    assert not (path / "explain").exists() and "explain" not in (path / ".dlnotes").read_text()


def test_a_users_explain_folder_and_an_input_in_the_output_are_never_overwritten(runs, explain, tmp_path):
    path = _copy(runs["lenet"], tmp_path)
    (path / "explain").mkdir()
    (path / "explain" / "notes.txt").write_text("mine")
    code, _, err = explain(path, runs["root"] / "seven.png")
    assert code == 2 and "was not made by dlnotes" in err
    assert [p.name for p in (path / "explain").iterdir()] == ["notes.txt"]
    shutil.rmtree(path / "explain")
    assert explain(path, runs["root"] / "seven.png")[0] == 0
    inside = path / "explain" / "input"
    inside.mkdir()
    shutil.copy(runs["root"] / "seven.png", inside / "input.png")
    before = (inside / "input.png").read_bytes()
    code, _, err = explain(path, inside / "input.png")
    assert code == 2 and "lies where explain writes its output" in err
    assert (inside / "input.png").read_bytes() == before


def test_a_recurrent_model_gets_its_gates_over_time(runs, explain, tmp_path):
    path = _copy(runs["lstm"], tmp_path)
    code, _, err = explain(path, runs["root"] / "row.npy")
    assert code == 0, err
    folder = path / "explain" / "row"
    assert {p.name for p in folder.iterdir()} == {"gates.png", "sequence.png", "explain.npz"}
    with np.load(folder / "explain.npz", allow_pickle=False) as z:
        assert z["gate_forget"].shape == z["cell"].shape == z["hidden"].shape == (2, 8, 12)
        assert z["input"].shape == (8, 8) and z["saliency"].shape == (8, 8)
        h = z["gate_output"] * np.tanh(z["cell"])
        np.testing.assert_allclose(h, z["hidden"], atol=1e-6)


def test_tables_get_contributions_or_permutation_importance(runs, explain, tmp_path):
    path = _copy(runs["logreg"], tmp_path)
    code, _, err = explain(path, runs["root"] / "flowers.csv")
    assert code == 0, err
    with np.load(path / "explain" / "flowers" / "explain.npz", allow_pickle=False) as z:
        contrib, bias, x = z["contributions"], float(z["bias"]), torch.from_numpy(z["input"])
        assert contrib.shape == (3, 4) and list(z["feature_names"])[0] == "sepal length (cm)"
        c = int(z["predicted"][0])
    with torch.no_grad():
        np.testing.assert_allclose(contrib.sum(1) + bias, runs["logreg"].model(x)[:, c].numpy(), atol=1e-5)
    path = _copy(runs["mlp"], tmp_path)
    code, _, err = explain(path, runs["root"] / "flowers.csv")
    assert code == 0, err
    assert {p.name for p in (path / "explain" / "flowers").iterdir()} == {"importance.png", "explain.npz"}
    with np.load(path / "explain" / "flowers" / "explain.npz", allow_pickle=False) as z:
        assert z["importance"].shape == z["importance_std"].shape == (4,)
        assert z["importance"].max() > 0  # shuffling some feature costs accuracy
