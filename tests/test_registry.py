import inspect

import pytest

from dlnotes.registry import ACTIVATIONS, DATASETS, LOSSES, MODELS, OPTIMIZERS, REQUIRED, SCHEDULERS, Registry

ALL = [MODELS, DATASETS, OPTIMIZERS, SCHEDULERS, LOSSES, ACTIVATIONS]


@pytest.mark.parametrize("registry", ALL, ids=lambda r: r.kind)
def test_source_scan_agrees_with_imported_functions(registry):
    """The registry reads parameters from the source without importing; they must equal the real ones."""
    assert registry.names()
    for name in registry.names():
        fn = registry.get(name)
        sig = inspect.signature(fn).parameters
        scanned = registry.params(name)
        assert list(scanned) == [p for p in sig if sig[p].kind not in (inspect.Parameter.VAR_KEYWORD,)]
        for pname, p in scanned.items():
            real = sig[pname].default
            assert (p.default is REQUIRED) == (real is inspect.Parameter.empty)
            if p.default is not REQUIRED:
                assert p.default == real


def test_core_entries_exist():
    assert {"sgd", "adam", "adamw"} <= set(OPTIMIZERS.names())
    assert {"none", "step", "cosine"} <= set(SCHEDULERS.names())
    assert {"cross_entropy", "mse", "bce"} <= set(LOSSES.names())
    assert {"lenet", "digits"} <= set(MODELS.names()) | set(DATASETS.names())


def test_duplicate_registration_raises():
    reg = Registry("thing", "THINGS", ())

    @reg.register(name="a")
    def a():
        pass

    with pytest.raises(ValueError, match="duplicate"):
        @reg.register(name="a")
        def b():
            pass


def test_cli_listing_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys; from dlnotes.cli import app; from dlnotes.registry import MODELS; MODELS.params('lenet'); " \
           "print('torch' in sys.modules, 'sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False False"


@pytest.mark.parametrize("registry", ALL, ids=lambda r: r.kind)
def test_source_scan_reads_the_same_constraints_as_the_annotations(registry):
    """The ast view evaluates ``Annotated[int, Interval(1, 1024)]`` itself; it must equal the real objects."""
    import types
    import typing

    for name in registry.names():
        fn = registry.get(name)
        params_only = types.FunctionType(fn.__code__, inspect.unwrap(fn).__globals__, "f", None,
                                         fn.__closure__)  # a copy that holds the parameters' annotations only
        params_only.__annotations__ = {k: v for k, v in fn.__annotations__.items() if k != "return"}
        hints = typing.get_type_hints(params_only, include_extras=True)
        for pname, p in registry.params(name).items():
            real = getattr(hints.get(pname), "__metadata__", ())
            assert list(map(repr, p.constraints)) == list(map(repr, real)), (name, pname)
