"""Classification: cross-entropy; accuracy, precision, recall and F1 from TP/TN/FP/FN; a class and its probability."""

from __future__ import annotations

from pathlib import Path

import torch

from dlnotes.tasks.base import LOSS_WORDS, Task, target_words


class Classification(Task):
    name, loss = "classification", "cross_entropy"
    metric, higher_is_better = "accuracy", True
    shown = ("accuracy", "f1", "loss")
    stratify = True
    losses, model_keys, column_types = ("cross_entropy", "bce"), ("num_classes",), ("category", "boolean")


    def answer(self, row):
        """The class, its probability and every class's."""
        return {k: row[k] for k in ("prediction", "probability", "probabilities")}
    def describe(self, ds):
        classes = [str(c) for c in ds.classes or []]
        shown = ", ".join(classes[:5]) + (", ..." if len(classes) > 5 else "")
        return f"{target_words(ds)} has {len(classes)} classes ({shown})"

    def model_outputs(self, ds):
        return {"num_classes": len(ds.classes or [])}

    def loss_problem(self, loss, ds):
        """Binary cross-entropy fits two classes only."""
        if loss == "bce" and len(ds.classes or []) != 2:
            return f"is {LOSS_WORDS['bce']}"
        return super().loss_problem(loss, ds)

    def metrics(self, out, y, pre, num_classes, threshold, loss):
        from dlnotes.engine.metrics import classification_metrics, confusion_matrix, labels

        return classification_metrics(confusion_matrix(labels(out, threshold), y, num_classes))

    def baseline(self, train_y, test, pre, num_classes):
        """Always the most frequent training class."""
        from dlnotes.engine.metrics import classification_metrics, confusion_matrix

        majority = int(torch.bincount(train_y.reshape(-1).long(), minlength=num_classes).argmax())
        cm = confusion_matrix(torch.full_like(test.y, majority), test.y, num_classes)
        m = classification_metrics(cm)
        return {"name": "majority class", **{k: m[k] for k in ("accuracy", "precision", "recall", "f1")}}

    def predict(self, model, inputs, spec, device, top_k=0, steps=0, temperature=0.8, probabilities=False):
        from dlnotes.engine.predict import class_rows

        names, (probs, labels) = self._outputs(model, inputs, spec, device)
        rows = class_rows(names, probs, labels, spec.classes, top_k, probabilities)
        truth = folder_labels(Path(inputs), names, spec.classes) if isinstance(inputs, (str, Path)) else None
        if truth is not None:  # a folder with one sub-folder per class: say how many were right
            import sys

            right = sum(r["prediction"] == t for r, t in zip(rows, truth))
            print(f"accuracy {right / len(rows):.4f} ({right} of {len(rows)} right; the sub-folder names of "
                  f"'{inputs}' are the classes)", file=sys.stderr)
        return rows

    def figures(self, report, out):
        from dlnotes import plots
        from dlnotes.explain.interpret import top_losses

        paths = super().figures(report, out)
        classes = report.spec.classes
        if "confusion_matrix" in report.metrics:
            paths.append(plots.confusion(report.metrics["confusion_matrix"], classes, out / "confusion_matrix.png"))
        top = top_losses(report.outputs, report.test.y, 25, report.spec.threshold)
        examples = report.test.x[top.index] if torch.is_tensor(report.test.x) else None  # not for a streamed folder
        paths.append(plots.top_losses(examples, top.truth, top.predicted, top.probability, top.loss, classes,
                                      report.spec.kind.drawn_as, len(report.test.y), out / "top_losses.png"))
        return [p for p in paths if p is not None]

    def interpret(self, metrics, classes):
        """The most frequent mistakes, (true, predicted, count) from the confusion matrix (fastai's most_confused)."""
        from dlnotes.explain.interpret import most_confused

        return {"most_confused": most_confused(metrics["confusion_matrix"], classes)} if "confusion_matrix" in metrics else {}


def folder_labels(root: Path, names: list[str], classes: list[str]) -> list[str] | None:
    """The class of each input read from ``root``/CLASS/..., when every input lies in a sub-folder named
    after one of ``classes`` (the layout ``image_folder`` trains on); None otherwise."""
    if not root.is_dir() or not names:
        return None
    labels = []
    for name in names:
        parts = Path(name).relative_to(root).parts
        if len(parts) < 2 or parts[0] not in classes:
            return None
        labels.append(parts[0])
    return labels


def confusion_text(cm: list[list[int]], classes: list[str], longest: int = 12) -> str:
    """The confusion matrix as text, every row (true class) and column (predicted class) labelled with
    its class name (cut to ``longest`` characters); classes unnamed in the run are numbered."""
    names = [str(c) for c in classes] if len(classes) == len(cm) else [str(i) for i in range(len(cm))]
    names = [n if len(n) <= longest else n[:longest - 3] + "..." for n in names]
    label = max(len(n) for n in names)
    col = max([len(n) for n in names] + [len(str(v)) for row in cm for v in row])
    lines = ["confusion matrix (rows: true class, columns: predicted):",
             "  " + " " * label + "  " + " ".join(n.rjust(col) for n in names)]
    lines += ["  " + n.ljust(label) + "  " + " ".join(str(v).rjust(col) for v in row) for n, row in zip(names, cm)]
    return "\n".join(line.rstrip() for line in lines)
