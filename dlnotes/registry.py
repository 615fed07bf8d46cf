"""One small registry for models, datasets, optimizers, schedulers, losses and activations.

A module registers a constructor with ``@MODELS.register``. To keep ``dlnotes --help``, ``dlnotes
models`` and config checking fast, a registry learns its entries by *reading* the source files of
its package (with ``ast``, no import): names, parameters, defaults, ``Literal`` choices, the
constraints of ``Annotated[type, Interval(...)]`` (``dlnotes.constraints``) and the first docstring
line. The module is imported only when an entry is built (``get``), and the decorator then binds the
real function. ``tests/test_registry.py`` checks that both views agree.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from dlnotes import constraints
from dlnotes.errors import UserError, did_you_mean

REQUIRED = object()  # marks a parameter without a default


@dataclass
class Param:
    name: str
    default: Any = REQUIRED
    type: str | None = None  # "int", "float", "bool", "str", "list", ... from the annotation
    choices: tuple | None = None  # from Literal[...]
    constraints: tuple = ()  # from Annotated[type, Interval(...), ...]

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def check(self, where: str, value: Any) -> None:
        """Raises ``UserError`` naming ``where``, the value and what is allowed, unless ``value`` fits."""
        expected = self.type or (type(self.default).__name__ if not self.required and self.default is not None
                                 else None)
        constraints.check(where, value, expected, self.choices, self.constraints,
                          optional=self.default is None)

    def allowed(self) -> str:
        return constraints.describe(self.type, self.choices, self.constraints)


@dataclass
class Entry:
    name: str
    module: str
    func_name: str
    params: dict[str, Param] = field(default_factory=dict)
    doc: str = ""
    fn: Callable | None = None


_PACKAGE_ROOT = Path(__file__).resolve().parent


def _constraint(node: ast.expr) -> Any:
    """Evaluates ``Interval(0, 1, closed="left")``, ``Items(int, Interval(1, None))``: only the names of
    ``dlnotes.constraints``, the basic types and literals; anything else is a mistake in the source."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in constraints.CONSTRAINTS:
        args = [_constraint(a) for a in node.args]
        kwargs = {kw.arg: _constraint(kw.value) for kw in node.keywords}
        return constraints.CONSTRAINTS[node.func.id](*args, **kwargs)
    if isinstance(node, ast.Dict):  # Mapping(keys={"number": Options(...)})
        return {_constraint(k): _constraint(v) for k, v in zip(node.keys, node.values)}
    if isinstance(node, ast.Name) and node.id in constraints.TYPES:
        return constraints.TYPES[node.id]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):  # 2**32 - 1 style bounds
        return _constraint(node.left) ** _constraint(node.right)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Sub, ast.Add)):
        left, right = _constraint(node.left), _constraint(node.right)
        return left - right if isinstance(node.op, ast.Sub) else left + right
    return ast.literal_eval(node)


def _annotation(node: ast.expr | None) -> tuple[str | None, tuple | None, tuple]:
    """Reads ``int``, ``float | None``, ``Literal['a', 'b']``, ``list[int]``, ``Annotated[float, Interval(0, 1)]``
    into (type, choices, constraints)."""
    if node is None:
        return None, None, ()
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # string annotation
        try:
            node = ast.parse(node.value, mode="eval").body
        except SyntaxError:
            return None, None, ()
    if isinstance(node, ast.Subscript) and getattr(node.value, "id", None) == "Annotated":
        inner, *extra = node.slice.elts
        type_, choices, _ = _annotation(inner)
        return type_, choices, tuple(_constraint(e) for e in extra)
    if isinstance(node, ast.Subscript) and getattr(node.value, "id", None) == "Literal":
        try:
            values = ast.literal_eval(node.slice)
        except ValueError:
            return None, None, ()
        values = values if isinstance(values, tuple) else (values,)
        return type(values[0]).__name__, tuple(values), ()
    if isinstance(node, ast.Subscript):
        return getattr(node.value, "id", None), None, ()
    if isinstance(node, ast.BinOp):  # X | None
        return _annotation(node.left)
    if isinstance(node, ast.Name):
        return node.id, None, ()
    return None, None, ()


def _params(fn: ast.FunctionDef) -> dict[str, Param]:
    args = fn.args
    positional = args.posonlyargs + args.args
    defaults = [REQUIRED] * (len(positional) - len(args.defaults)) + list(args.defaults)
    kw = list(zip(args.kwonlyargs, args.kw_defaults))
    out = {}
    for arg, default in list(zip(positional, defaults)) + kw:
        if default is not REQUIRED and default is not None:
            try:
                default = ast.literal_eval(default)
            except ValueError:
                default = ast.unparse(default)
        type_, choices, rules = _annotation(arg.annotation)
        out[arg.arg] = Param(arg.arg, default, type_, choices, rules)
    return out


class Registry:
    """Named constructors of one kind, discovered from the modules of ``package``."""

    def __init__(self, kind: str, variable: str, packages: tuple[str, ...]):
        self.kind = kind
        self.variable = variable  # the name modules use for this registry, e.g. "MODELS"
        self.packages = packages
        self._entries: dict[str, Entry] | None = None

    # -- registration (runs when a module is imported) --------------------------------------
    def register(self, fn: Callable | None = None, *, name: str | None = None):
        def deco(f: Callable) -> Callable:
            key = name or f.__name__
            entries = self._discover()
            entry = entries.get(key)
            if entry is None or entry.func_name != f.__name__ or entry.module != f.__module__:
                if entry is not None:
                    raise ValueError(f"duplicate {self.kind} '{key}' in {f.__module__} and {entry.module}")
                # registered from outside the scanned packages (a user's plug-in): read it live
                entry = Entry(key, f.__module__, f.__name__, _live_params(f), _first_line(f.__doc__))
                entries[key] = entry
            if entry.fn is not None and entry.fn is not f and entry.fn.__qualname__ != f.__qualname__:
                raise ValueError(f"duplicate {self.kind} '{key}'")
            entry.fn = f
            return f

        return deco(fn) if fn is not None else deco

    def variant(self, fn: Callable, name: str, doc: str, **bound: Any) -> Callable:
        """Registers ``fn`` under ``name`` with the ``bound`` arguments fixed: one signature, declared once,
        for a family of entries (rnn, lstm and gru share every other parameter and its bounds). The source
        scan reads the same call (``NAME = MODELS.variant(fn, "name", doc="...", key=value)``)."""
        entries = self._discover()
        entry = entries.get(name)
        if entry is None:  # a variant made outside the scanned packages: read it live
            params = {k: p for k, p in _live_params(fn).items() if k not in bound}
            entry = entries[name] = Entry(name, fn.__module__, fn.__name__, params, _first_line(doc))
        if entry.fn is not None and getattr(entry.fn, "__wrapped_variant__", None) is not fn:
            raise ValueError(f"duplicate {self.kind} '{name}'")

        def build(**kwargs):
            return fn(**bound, **kwargs)

        sig = inspect.signature(fn)
        build.__signature__ = sig.replace(parameters=[p for k, p in sig.parameters.items() if k not in bound])
        build.__name__, build.__module__, build.__wrapped_variant__ = name, fn.__module__, fn
        build.__wrapped__ = fn  # typing.get_type_hints reads the annotations in fn's module
        build.__annotations__ = {k: v for k, v in fn.__annotations__.items() if k not in bound}
        rest = (inspect.getdoc(fn) or "").split("\n", 1)[1:]
        build.__doc__ = doc + ("\n" + rest[0] if rest else "")
        entry.fn = build
        return build

    # -- discovery ---------------------------------------------------------------------------
    def _discover(self) -> dict[str, Entry]:
        if self._entries is not None:
            return self._entries
        self._entries = {}
        for package in self.packages:
            rel = Path(*package.split(".")[1:])
            base = _PACKAGE_ROOT / rel
            files = sorted(base.glob("*.py")) if base.is_dir() else [base.with_suffix(".py")]
            for path in files:
                module = package if not base.is_dir() else f"{package}.{path.stem}"
                if path.stem == "__init__" and base.is_dir():
                    module = package
                self._scan(path, module)
        return self._entries

    def _scan(self, path: Path, module: str) -> None:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
        for node in tree.body:
            call = node.value if isinstance(node, ast.Assign) else None
            if self._is_call(call, "variant"):
                self._scan_variant(call, functions, module)
            for name in self._registered_names(node) if isinstance(node, ast.FunctionDef) else ():
                if name in self._entries:
                    raise ValueError(f"duplicate {self.kind} '{name}' in {module} and {self._entries[name].module}")
                self._entries[name] = Entry(name, module, node.name, _params(node), _first_line(ast.get_docstring(node)))

    def _is_call(self, node, method: str) -> bool:
        """Whether ``node`` is ``<THIS REGISTRY>.<method>`` (a call or the bare attribute of a decorator)."""
        target = node.func if isinstance(node, ast.Call) else node
        return isinstance(target, ast.Attribute) and target.attr == method \
            and getattr(target.value, "id", None) == self.variable

    def _registered_names(self, fn: ast.FunctionDef) -> list[str]:
        """The names ``@REGISTRY.register`` / ``@REGISTRY.register(name=...)`` give a function."""
        names = []
        for deco in fn.decorator_list:
            if self._is_call(deco, "register"):
                given = [kw.value for kw in getattr(deco, "keywords", []) if kw.arg == "name"]
                names.append(ast.literal_eval(given[0]) if given else fn.name)
        return names

    def _scan_variant(self, call: ast.Call, functions: dict[str, ast.FunctionDef], module: str) -> None:
        """``MODELS.variant(fn, "name", doc="...", key=value)``: fn's parameters less the bound ones."""
        fn, name = functions[call.args[0].id], ast.literal_eval(call.args[1])
        keywords = {kw.arg: kw.value for kw in call.keywords}
        doc = ast.literal_eval(keywords.pop("doc"))
        if name in self._entries:
            raise ValueError(f"duplicate {self.kind} '{name}' in {module} and {self._entries[name].module}")
        params = {k: p for k, p in _params(fn).items() if k not in keywords}
        self._entries[name] = Entry(name, module, fn.name, params, _first_line(doc))

    # -- lookup ------------------------------------------------------------------------------
    def names(self) -> list[str]:
        return sorted(self._discover())

    def __contains__(self, name: str) -> bool:
        return name in self._discover()

    def entry(self, name: str, where: str | None = None) -> Entry:
        entries = self._discover()
        if name not in entries:
            key = f"{where}: " if where else ""
            raise UserError(f"{key}unknown {self.kind} '{name}'{did_you_mean(name, entries)}")
        return entries[name]

    def params(self, name: str) -> dict[str, Param]:
        return self.entry(name).params

    def check_args(self, name: str, args: dict[str, Any], where: str) -> None:
        """Checks constructor arguments against the declared types and constraints (``where.key: ...``)."""
        params = self.params(name)
        for key, value in args.items():
            if key in params:
                params[key].check(f"{where}.{key}", value)

    def get(self, name: str, where: str | None = None) -> Callable:
        entry = self.entry(name, where)
        if entry.fn is None:
            importlib.import_module(entry.module)
        if entry.fn is None:  # pragma: no cover - the scan and the module disagree
            raise RuntimeError(f"{entry.module} did not register {self.kind} '{name}'")
        return entry.fn


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().split("\n")[0]


def _live_params(f: Callable) -> dict[str, Param]:
    out = {}
    for p in inspect.signature(f).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        default = REQUIRED if p.default is p.empty else p.default
        meta = getattr(p.annotation, "__metadata__", ())  # typing.Annotated
        base = getattr(getattr(p.annotation, "__origin__", None), "__name__", None) if meta else None
        rules = tuple(m for m in meta if isinstance(m, constraints.Constraint))
        out[p.name] = Param(p.name, default, base if base in constraints.TYPES else None, None, rules)
    return out


MODELS = Registry("model", "MODELS", ("dlnotes.models",))
DATASETS = Registry("dataset", "DATASETS", ("dlnotes.data",))
OPTIMIZERS = Registry("optimizer", "OPTIMIZERS", ("dlnotes.engine.optim",))
SCHEDULERS = Registry("scheduler", "SCHEDULERS", ("dlnotes.engine.optim",))
LOSSES = Registry("loss", "LOSSES", ("dlnotes.nn.losses",))
ACTIVATIONS = Registry("activation", "ACTIVATIONS", ("dlnotes.nn.activations",))
