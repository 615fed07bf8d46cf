"""The one way dlnotes reads YAML: configs, overrides, and the config.yaml of every run it lists.

A safe loader (PyYAML's ``SafeLoader``: no Python objects) with the limits a config never needs to pass:
no aliases (a 600-byte "billion laughs" document expands to gigabytes), bounded nesting, no repeated
key, a bounded file size; and YAML 1.2's reading of ``1e-3`` as a float.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from dlnotes.errors import UserError, path_note

MAX_DEPTH = 64  # nesting of mappings and lists; a real config needs 4
MAX_CONFIG_BYTES = 1 << 20


class Refused(yaml.MarkedYAMLError):
    """YAML that parses but that a config may not use (aliases, deep nesting, a repeated key)."""


class _Loader(yaml.SafeLoader):
    """A safe loader for configs and overrides.

    - YAML 1.1 reads ``1e-3`` as a string; people mean a float (as YAML 1.2 does).
    - Aliases (``*name``) are refused: a 600-byte "billion laughs" document expands to gigabytes once
      copied, and a config never needs one.
    - Nesting is bounded (``MAX_DEPTH``), so 100,000 brackets are an error, not a RecursionError.
    - A key given twice in one mapping is refused with its line, instead of silently keeping the last.
    """

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise Refused(None, None, f"aliases (*{event.anchor}) are not allowed; write the value out",
                           event.start_mark)
        depth = getattr(self, "_depth", 0)
        if depth >= MAX_DEPTH:
            raise Refused(None, None, f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark)
        self._depth = depth + 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth = depth

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}  # key -> the line it was first given on
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: the base class reports it
                    break
                if first is not None:
                    raise Refused(None, None, f"key '{key}' appears twice (first at line {first})",
                                   key_node.start_mark)
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


_Loader.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."),
)


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def _where(e: yaml.MarkedYAMLError) -> str:
    mark = e.problem_mark
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file '{path}' not found{path_note(path)}" if not path.exists() else f"config '{path}' is not a file")
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise UserError(f"config '{path}' is larger than {MAX_CONFIG_BYTES >> 20} MB; a config is a few lines")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read config '{path}': {getattr(e, 'strerror', None) or e}") from None
    try:
        data = load_yaml(text)
    except Refused as e:
        raise UserError(f"config '{path}'{_where(e)}: {e.problem}") from None
    except yaml.MarkedYAMLError as e:
        raise UserError(f"invalid YAML in '{path}'{_where(e)}: {e.problem}") from None
    except (yaml.YAMLError, RecursionError) as e:
        raise UserError(f"invalid YAML in '{path}': {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    if data is None:
        raise UserError(f"config '{path}' is empty; it needs at least 'data: {{name: ...}}' and 'model: {{name: ...}}'")
    if not isinstance(data, dict):
        raise UserError(f"config '{path}' must be a mapping of keys (name, seed, data, model, train), not {type(data).__name__}")
    return data
