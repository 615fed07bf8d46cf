"""What a run shows while it trains: bars refreshed by time, plain lines in a pipe, convergence warnings."""

import io

import pytest

from dlnotes.config import validate
from dlnotes.engine.progress import Progress
from dlnotes.engine.trainer import convergence_message, still_falling
from dlnotes.errors import ConvergenceWarning
from dlnotes.run import train


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_batch_bar_refreshes_by_time_not_by_step_count():
    now = [100.0]
    stream = FakeTerminal()
    p = Progress(epochs=2, done=0, steps=1000, metric="accuracy", stream=stream, clock=lambda: now[0])
    assert p.mode == "bars"
    p.epoch_start(1)
    refreshed = []
    for step in range(1, 1001):
        now[0] += 0.01  # a 10 ms step: the bar should move every 50 steps, whatever the step count
        if p.due():
            p.step(step, running_loss=1.0 / step)
            refreshed.append(step)
    assert refreshed[:3] == [50, 100, 150] and len(refreshed) == 20
    assert p.bar.n == 1000 and "loss=0.0010" in str(p.bar)  # the running loss is on the bar
    p.epoch_end({"epoch": 1, "train_loss": 0.5, "val_loss": 0.25, "val_accuracy": 0.875, "lr": 0.1})
    assert "val_accuracy=0.875" in str(p.overall) and p.overall.n == 1
    p.close()


def test_slow_steps_refresh_every_time_and_quiet_never_draws():
    now = [0.0]
    p = Progress(epochs=1, done=0, steps=3, metric="r2", stream=FakeTerminal(), clock=lambda: now[0])
    p.epoch_start(1)
    now[0] += 2.0  # one step takes 2 s: each one is shown
    assert p.due()
    p.step(1, 3.0)
    assert not p.due()
    p.close()
    quiet = io.StringIO()
    q = Progress(epochs=1, done=0, steps=3, metric="r2", quiet=True, stream=quiet, clock=lambda: now[0])
    q.epoch_start(1)
    q.epoch_end({"epoch": 1, "train_loss": 1.0})
    q.close()
    assert q.mode == "off" and quiet.getvalue() == ""


def test_piped_output_is_one_plain_line_per_epoch(cli, tmp_path):
    r = cli("train", "--config", "configs/logreg_iris.yaml", "--out", tmp_path / "r", "train.epochs=3",
            "data.val_fraction=0.2")
    assert r.returncode == 0, r.stderr
    assert "\r" not in r.stderr and "\x1b" not in r.stderr
    epochs = [line for line in r.stderr.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in epochs] == ["1/3", "2/3", "3/3"]
    assert all("train_loss=" in line and "val_accuracy=" in line for line in epochs)
    assert "loading data" not in r.stderr  # status lines are for a terminal; a log gets the epoch lines
    assert r.stdout.splitlines()[0].startswith("run: ")  # results, and only results, on stdout


def test_still_falling_loss_is_reported_with_the_keys_to_change():
    falling = [{"epoch": e, "train_loss": 10 * 0.9 ** e} for e in range(1, 11)]
    flat = [{"epoch": e, "train_loss": 1 + 0.5 ** e} for e in range(1, 31)]
    assert still_falling(falling, "train_loss") == pytest.approx((0.9 ** 5 - 0.9 ** 10) / (5 * 0.9 ** 5))
    assert still_falling(flat, "train_loss") is None
    message = convergence_message(falling, 10, 0.01)
    assert "train.epochs (now 10)" in message and "train.optimizer.lr (now 0.01)" in message
    assert convergence_message(flat, 30, 0.01) is None
    overfitting = [dict(row, val_loss=1 + 0.1 * row["epoch"]) for row in falling]  # more epochs would not help
    assert convergence_message(overfitting, 10, 0.01) is None


def test_unconverged_gradient_descent_warns_and_least_squares_does_not(tmp_path, recwarn, capfd):
    cfg = {"seed": 0, "data": {"name": "diabetes", "val_fraction": 0.0}, "model": {"name": "linear_regression"},
           "train": {"solver": "gd", "epochs": 10}}
    with pytest.warns(ConvergenceWarning, match=r"train\.epochs.*train\.optimizer\.lr"):
        run = train(validate(cfg), out=tmp_path / "gd", quiet=True)
    assert run.metrics["r2"] < 0.3
    recwarn.clear()
    train(validate({**cfg, "train": {"solver": "lstsq"}}), out=tmp_path / "ls", quiet=True)
    assert not [w for w in recwarn if issubclass(w.category, ConvergenceWarning)]
    assert capfd.readouterr().err == ""  # quiet: no progress at all


def test_run_repr_names_path_model_data_and_main_metric(tmp_path):
    from dlnotes.run import Run

    run = train(validate({"seed": 0, "data": {"name": "diabetes", "val_fraction": 0.0},
                          "model": {"name": "linear_regression"}, "train": {"solver": "lstsq"}}),
                out=tmp_path / "r", quiet=True)
    text = repr(run)
    assert text.startswith(f"Run(path='{tmp_path / 'r'}', model='linear_regression', dataset='diabetes'")
    assert f"test r2={run.metrics['r2']:.4f}" in text
    assert repr(Run.load(tmp_path / "r")) == text


def test_status_lines_show_in_a_terminal_only():
    import io

    from dlnotes.engine.progress import status

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    tty, pipe = Terminal(), io.StringIO()
    status("loading data: iris ...", stream=tty)
    status("loading data: iris ...", stream=pipe)
    status("loading data: iris ...", quiet=True, stream=tty)
    assert tty.getvalue() == "loading data: iris ...\n" and pipe.getvalue() == ""


def test_networks_get_no_convergence_warning(tmp_path, recwarn):
    """A network's loss keeps creeping down for long; only the convex models are told they stopped early."""
    cfg = {"seed": 0, "data": {"name": "iris", "val_fraction": 0.0}, "model": {"name": "mlp", "hidden_sizes": [8]},
           "train": {"epochs": 3, "optimizer": {"name": "sgd", "lr": 0.01}}}
    train(validate(cfg), out=tmp_path / "mlp", quiet=True)
    assert not [w for w in recwarn if issubclass(w.category, ConvergenceWarning)]
    with pytest.warns(ConvergenceWarning):
        train(validate({**cfg, "model": {"name": "logistic_regression"}}), out=tmp_path / "logreg", quiet=True)
