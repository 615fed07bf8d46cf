"""What a training run tells the person watching it, on stderr.

In a terminal: two tqdm bars, epochs (with the last epoch's losses and validation metric) and the
batches of the current epoch (with the running loss). The batch bar is refreshed by time, every
``interval`` seconds, not every k steps: a step only compares ``time.monotonic()`` with the last
refresh, which needs no host sync; the loss tensor is read (one sync) only when the bar is redrawn.

Elsewhere (a pipe, a file, a CI log, a notebook's stderr): no bars, no carriage returns or escape
codes, one plain line per epoch, as Keras' ``verbose=2`` does. ``quiet`` silences both.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable

REFRESH_S = 0.5  # the batch bar moves at least twice a second


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or replaced streams
        return False


def status(message: str, quiet: bool = False, stream=None) -> None:
    """One plain line about what the run is doing now ("loading data: digits ..."), in a terminal only:
    in a log or a pipe the per-epoch lines say enough, and a refused input stays one line."""
    stream = stream or sys.stderr
    if not quiet and _is_terminal(stream):
        stream.write(message + "\n")
        stream.flush()


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class Progress:
    """Per-run progress: ``epoch_start`` / ``step`` per batch / ``epoch_end`` / ``close``."""

    def __init__(self, epochs: int, done: int, steps: int, metric: str, quiet: bool = False, stream=None,
                 clock: Callable[[], float] = time.monotonic, interval: float = REFRESH_S):
        self.stream = stream or sys.stderr
        self.mode = "off" if quiet else "bars" if _is_terminal(self.stream) else "lines"
        self.epochs, self.steps, self.metric = epochs, steps, metric
        self.clock, self.interval = clock, interval
        self.overall = self.bar = None
        self._last = clock()
        if self.mode == "bars":
            from tqdm import tqdm

            self._tqdm = tqdm
            self.overall = tqdm(total=epochs, initial=done, desc="epochs", unit="epoch", position=0,
                                dynamic_ncols=True, file=self.stream)

    def epoch_start(self, epoch: int) -> None:
        self._last = self.clock()
        if self.mode == "bars":
            self.bar = self._tqdm(total=self.steps, desc=f"epoch {epoch}", unit="batch", leave=False, position=1,
                                  dynamic_ncols=True, file=self.stream, mininterval=self.interval)

    def due(self) -> bool:
        """Whether it is time to read the loss (to redraw, and for the trainer to look for NaNs, in every
        mode); one clock read, cheap enough for every step."""
        return self.clock() - self._last >= self.interval

    def step(self, step: int, running_loss: float) -> None:
        """Redraws the batch bar at ``step`` with the running mean loss (call when ``due()``)."""
        self._last = self.clock()
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{running_loss:.4f}", refresh=False)
            self.bar.update(step - self.bar.n)

    def epoch_end(self, row: dict[str, Any]) -> None:
        shown = {k: row[k] for k in ("train_loss", "val_loss", f"val_{self.metric}") if k in row}
        if self.mode == "bars":
            if self.bar is not None:
                self.bar.close()
                self.bar = None
            self.overall.set_postfix({k: _fmt(v) for k, v in shown.items()}, refresh=False)
            self.overall.update(1)
        elif self.mode == "lines":
            parts = [f"epoch {row['epoch']}/{self.epochs}"] + [f"{k}={_fmt(v)}" for k, v in shown.items()]
            if "lr" in row:
                parts.append(f"lr={row['lr']:.3g}")
            if "seconds" in row:
                parts.append(f"{row['seconds']:.1f}s")
            self.stream.write("  ".join(parts) + "\n")
            self.stream.flush()

    def close(self) -> None:
        for bar in (self.bar, self.overall):
            if bar is not None:
                bar.close()
        self.bar = self.overall = None
