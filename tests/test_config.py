import pytest
from hypothesis import given, strategies as st

from dlnotes.config import apply_overrides, load_config, parse_override, resolved, validate
from dlnotes.errors import UserError

BASE = {"data": {"name": "digits"}, "model": {"name": "lenet"}}


def cfg(**sections):
    d = {k: dict(v) if isinstance(v, dict) else v for k, v in BASE.items()}
    for k, v in sections.items():
        d[k] = v
    return d


def error_of(data) -> str:
    with pytest.raises(UserError) as e:
        validate(data, source="c.yaml")
    return str(e.value)


def test_unknown_key_suggests_the_closest():
    assert "unknown key 'epocs' in train; did you mean 'epochs'?" in error_of(cfg(train={"epocs": 3}))
    msg = error_of(cfg(train={"optimizer": {"name": "adam", "lerning_rate": 0.1}}))
    assert "'lerning_rate'" in msg and "train.optimizer" in msg


def test_unknown_model_dataset_optimizer_suggest():
    assert "did you mean 'lenet'" in error_of({"data": {"name": "digits"}, "model": {"name": "lenett"}})
    assert "did you mean 'digits'" in error_of({"data": {"name": "digit"}, "model": {"name": "lenet"}})
    assert "did you mean 'adam'" in error_of(cfg(train={"optimizer": {"name": "adma"}}))


def test_model_and_dataset_keys_checked_against_constructors():
    assert "did you mean 'activation'" in error_of(cfg(model={"name": "lenet", "activaton": "relu"}))
    msg = error_of(cfg(model={"name": "lenet", "activation": "swish"}))
    assert "model.activation" in msg and "relu" in msg
    assert "data.image_size: must be an int" in error_of(cfg(data={"name": "digits", "image_size": "big"}))


@pytest.mark.parametrize("train, key", [
    ({"epochs": 0}, "train.epochs"), ({"optimizer": {"name": "sgd", "lr": -1}}, "train.optimizer.lr"),
    ({"epochs": "ten"}, "train.epochs"), ({"precision": "fp8"}, "train.precision"),
])
def test_bad_values_name_the_key(train, key):
    assert key in error_of(cfg(train=train))


@pytest.mark.parametrize("data, key", [({"name": "digits", "batch_size": 0}, "data.batch_size"),
                                       ({"name": "digits", "val_fraction": 1.0}, "data.val_fraction"),
                                       ({"name": "digits", "test_fraction": -0.1}, "data.test_fraction")])
def test_out_of_range_data(data, key):
    assert key in error_of(cfg(data=data))


def test_overrides_parse_yaml_scalars():
    assert parse_override("train.epochs=3") == (["train", "epochs"], 3)
    assert parse_override("train.optimizer.lr=1e-3") == (["train", "optimizer", "lr"], 1e-3)
    assert parse_override("model.activation=tanh") == (["model", "activation"], "tanh")
    assert parse_override("data.augment=true") == (["data", "augment"], True)
    with pytest.raises(UserError, match="no '='"):
        parse_override("train.epochs")
    merged = apply_overrides(BASE, ["train.epochs=5"])
    assert merged["train"]["epochs"] == 5 and "train" not in BASE


def test_override_unknown_path_is_an_error(write_config):
    path = write_config(BASE)
    with pytest.raises(UserError, match="unknown key 'epoch' in train; did you mean 'epochs'"):
        load_config(path, ["train.epoch=3"])


@given(st.text(alphabet="abc._=-1 ", max_size=20))
def test_override_parser_never_crashes(text):
    try:
        parse_override(text)
    except UserError:
        pass


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
                    max_leaves=10))
def test_loader_only_raises_user_errors(data):
    try:
        validate(data if isinstance(data, dict) else {"data": data})
    except UserError:
        pass


def test_resolved_fills_defaults_and_round_trips(write_config, tmp_path):
    c = load_config(write_config(BASE))
    r = resolved(c)
    assert r["model"]["activation"] == "sigmoid" and r["train"]["optimizer"]["beta1"] == 0.9
    assert "num_classes" not in r["model"]  # filled from the data at train time
    again = validate(r)
    assert resolved(again) == r


def test_yaml_errors_have_line_and_column(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("data:\n  name: digits\n model: x\n")
    with pytest.raises(UserError, match="line 3, column 2"):
        load_config(p)
    with pytest.raises(UserError, match="not found"):
        load_config(tmp_path / "nope.yaml")
