"""The whole table model: one input per training column, raw, in; the answers in the user's units out.

For a ``csv`` run, ``dlnotes.data.tabular``'s fitted preprocessing, column by column (``dlnotes.export.columns``:
numbers imputed with their indicators and scaled, dates as standardised and cyclical calendar parts, booleans,
one-hot or embedded categories), assembled in its output order (numbers, dates, booleans, one-hot blocks,
embedded codes), then the network and the answer (``dlnotes.export.answers``: class probabilities and label,
or values de-standardised). Other tables (the embedded datasets) standardise each numeric column with the
training statistics. Text arrives as codes, 1 + the level's index among the training levels
(``dlnotes.inputs.codes``); the ONNX file also holds that step (``text_inputs``: an ONNX-ML ``LabelEncoder``
per text column, which onnxruntime runs), so it takes the columns' text itself.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from dlnotes.errors import UserError
from dlnotes.export.answers import WholeModel
from dlnotes.export.columns import column

GROUPS = ("number", "date", "boolean", "category", "embed")  # the input matrix's column order (data.tabular)


class TableModel(WholeModel):
    """``forward(columns)``: a dict of (N,) tensors by column name (numbers and dates float64, text as int64
    codes)."""

    by_name = True

    def __init__(self, network: nn.Module, meta: dict[str, Any], answer: nn.Module):
        super().__init__()
        self.network, self.answer = network, answer
        pre = meta["preprocess"]
        tab = pre.get("tabular")
        if tab is None:
            self.names = [str(c) for c in meta["dataset"]["feature_names"]]
            self.columns = None
            self.register_buffer("mean", torch.tensor(pre.get("x_mean", 0.0), dtype=torch.float32).reshape(1, -1))
            self.register_buffer("std", torch.tensor(pre.get("x_std", 1.0), dtype=torch.float32).reshape(1, -1))
            return
        unknown = sorted({t for t in tab["types"].values() if t not in ("number", "date", "boolean", "category")})
        if unknown:
            raise UserError(f"export: column type(s) {', '.join(unknown)} have no graph yet")
        self.names = list(tab["types"])
        self.columns = nn.ModuleList(column(t, tab["stats"][c]) for c, t in tab["types"].items())

    def features(self, columns: dict[str, torch.Tensor]) -> torch.Tensor:
        """The network's input matrix (N, F) float32, as ``TabularTransform.transform`` makes it."""
        if self.columns is None:
            x = torch.stack([columns[c].to(torch.float32) for c in self.names], dim=1)
            return (x - self.mean) / self.std
        blocks: dict[str, list[torch.Tensor]] = {g: [] for g in GROUPS}
        for name, module in zip(self.names, self.columns):
            blocks[module.group] += [b.to(torch.float32).reshape(b.shape[0], -1) for b in module(columns[name])]
        return torch.cat([b for g in GROUPS for b in blocks[g]], dim=1)

    def forward(self, columns: dict[str, torch.Tensor]):
        return self.answer(self.network(self.features(columns)))


class Positional(nn.Module):
    """The table model with one positional input per column (ONNX names its inputs by position)."""

    def __init__(self, table: TableModel):
        super().__init__()
        self.table = table

    def forward(self, *values: torch.Tensor):
        return self.table(dict(zip(self.table.names, values)))


def text_inputs(proto, meta: dict[str, Any]) -> None:
    """Turns the ONNX graph's int64 code inputs of the text columns into string inputs of the same names,
    each followed by an ONNX-ML ``LabelEncoder`` (level -> 1 + its index; "" (missing) -> the training
    fill's code; anything else -> 0), in place."""
    from onnx import TensorProto, helper

    tab = meta["preprocess"].get("tabular")
    if tab is None:
        return
    graph = proto.graph
    for c, t in tab["types"].items():
        if t not in ("category", "boolean"):
            continue
        s = tab["stats"][c]
        coded = f"{c} (code)"
        for node in graph.node:
            node.input[:] = [coded if name == c else name for name in node.input]
        old = next(i for i in graph.input if i.name == c)
        dims = [d.dim_param or d.dim_value for d in old.type.tensor_type.shape.dim]
        old.CopyFrom(helper.make_tensor_value_info(c, TensorProto.STRING, dims))
        keys = list(s["levels"]) + [""]
        values = list(range(1, len(s["levels"]) + 1)) + [s["levels"].index(s["fill"]) + 1]
        graph.node.insert(0, helper.make_node("LabelEncoder", [c], [coded], name=f"codes of {c}", domain="ai.onnx.ml",
                                              keys_strings=keys, values_int64s=values, default_int64=0))
    if not any(o.domain == "ai.onnx.ml" for o in proto.opset_import):
        proto.opset_import.append(helper.make_opsetid("ai.onnx.ml", 3))
