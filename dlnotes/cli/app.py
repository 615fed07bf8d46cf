"""The ``dlnotes`` command line: parses, loads the config, calls the pipeline. No training logic here.

Exit codes: 0 success; 2 bad input (one plain line, no traceback); 1 a failure during the run
(``--debug`` or DLNOTES_DEBUG=1 shows the traceback); 130/143 interrupted by SIGINT/SIGTERM; 141 the
reader of stdout went away (``dlnotes eval ... | head``). ``main`` and ``guarded`` are the one place
where exceptions become exit codes: usage errors of the command line, ``UserError``, an ``OSError``
on a path the user gave, a missing optional extra (all exit 2), ``RunFailure`` (exit 1).
Heavy libraries (torch, sklearn) are imported inside the commands that need them, so ``--help``,
``models``, ``datasets`` and config errors answer at once.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
from typing import Optional

import typer

from dlnotes.errors import Interrupted, RunFailure, UserError

app = typer.Typer(add_completion=True, no_args_is_help=True, rich_markup_mode=None, pretty_exceptions_enable=False,
                  help="Train, test and apply the models of a deep-learning course.\n\n"
                       "Example: dlnotes train --config configs/lenet_digits.yaml")

_debug = {"on": os.environ.get("DLNOTES_DEBUG", "") not in ("", "0")}


# optional packages -> the extra of pyproject.toml that installs them
EXTRAS = {"onnx": "export", "onnxruntime": "export", "onnxscript": "export", "tensorboard": "tensorboard",
          "optuna": "sweep"}
SIGPIPE_EXIT = 128 + getattr(signal, "SIGPIPE", 13)


def _fail(message: str, code: int) -> None:
    message = " ".join(str(message).split())  # one line, whatever the exception held
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _quiet_broken_pipe() -> None:
    """stdout's reader has gone (``| head``): drop what is left and exit as a process killed by SIGPIPE would."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout without a file descriptor (tests)
        pass
    raise typer.Exit(SIGPIPE_EXIT)


def _os_error(e: OSError) -> str:
    """``cannot write '/ro/out.csv': Permission denied``: an OSError as one line naming the path."""
    path = e.filename2 if e.errno == errno.EISDIR and e.filename2 else e.filename
    reason = e.strerror or type(e).__name__
    if isinstance(path, (bytes, int)):
        path = os.fsdecode(path) if isinstance(path, bytes) else None
    if path is None:
        return reason
    if not os.path.isabs(path):
        reason += f" (relative to the working directory {os.getcwd()})"
    return f"'{path}': {reason}"


def outcome(e: BaseException) -> tuple[str, int] | None:
    """The one line and the exit code of an exception dlnotes expects; None for a bug."""
    if isinstance(e, UserError):
        return str(e), 2
    if isinstance(e, RunFailure):
        return str(e), 1
    if isinstance(e, ModuleNotFoundError):
        extra = EXTRAS.get((e.name or "").split(".")[0])
        return (f"this needs the optional package '{e.name}': pip install 'dlnotes[{extra}]'", 2) if extra else None
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        where = f" writing '{e.filename}'" if e.filename else ""
        return f"disk full{where}; free some space and run the command again", 1
    if isinstance(e, OSError):  # about a path the user gave: bad input; else a failure during the run
        return (_os_error(e), 2) if e.filename is not None else None
    if isinstance(e, RecursionError):
        return "an input is nested too deeply to read", 2
    return None


def guarded(fn):
    """Runs a command body, turning dlnotes' exceptions into exit codes and one-line messages."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except BrokenPipeError:
            _quiet_broken_pipe()
        except Interrupted as e:
            typer.echo(str(e), err=True)
            raise typer.Exit(e.exit_code)
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130)
        except Exception as e:  # noqa: BLE001 - every exception becomes an exit code here
            if _debug["on"]:
                raise
            _fail(*(outcome(e) or (f"{type(e).__name__}: {e} (run with --debug for the traceback)", 1)))

    return wrapper


@app.callback()
def main_options(debug: bool = typer.Option(False, "--debug", help="Show tracebacks of failures.")):
    if debug:
        _debug["on"] = True
    _show_warnings()


OVERRIDES = typer.Argument(None, help="Dotted overrides, e.g. train.epochs=3 model.activation=tanh", show_default=False)


def _show_warnings() -> None:
    """dlnotes' own warnings (ConvergenceWarning, BaselineWarning) read as one line, "warning: ...",
    not in Python's file:line form."""
    import warnings

    from dlnotes.errors import BaselineWarning, ConvergenceWarning

    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, (ConvergenceWarning, BaselineWarning)):
            typer.echo(f"warning: {message}", err=True)
        else:
            shown(message, category, filename, lineno, file, line)
    warnings.showwarning = show


def check_device(device: Optional[str]) -> None:
    if device is not None:
        from dlnotes.config import check_device

        check_device(device)


def _usage_errors():
    try:
        from typer._click.exceptions import ClickException, NoArgsIsHelpError
    except ImportError:  # typer before it carried its own click
        from click.exceptions import ClickException, NoArgsIsHelpError
    return ClickException, NoArgsIsHelpError


def main() -> None:
    """The console script: usage errors of the command line become one ``error:`` line and exit 2."""
    ClickException, NoArgsIsHelpError = _usage_errors()
    try:
        code = app(standalone_mode=False)
    except NoArgsIsHelpError as e:
        typer.echo(e.format_message(), err=True)
        code = e.exit_code
    except ClickException as e:
        hint = f" (see: {e.ctx.command_path} --help)" if getattr(e, "ctx", None) is not None else ""
        typer.echo(f"error: {' '.join(e.format_message().split())}{hint}", err=True)
        code = e.exit_code
    except BrokenPipeError:
        code = SIGPIPE_EXIT
    except typer.Abort:
        typer.echo("aborted", err=True)
        code = 1
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        try:
            _quiet_broken_pipe()
        except typer.Exit:
            code = SIGPIPE_EXIT
    sys.exit(code if isinstance(code, int) else 0)

