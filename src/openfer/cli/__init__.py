"""The ``openfer`` command. Each command group lives in its own module and registers a subparser."""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Iterator, Sequence

from openfer.errors import OpenFERError, display_path

# Modules under openfer.cli that each define ``add_parser(subparsers)``.
COMMAND_MODULES = ("data", "train", "cv", "distill", "weights", "eval", "ensemble", "predict", "export", "serve", "models", "explain", "report")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="openfer", description="Facial expression recognition.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"openfer.cli.{name}").add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: runs a subcommand; bad input prints one line naming the culprit and exits 2."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and not getattr(args, "accepts_extra", False):
        parser.error(f"unrecognised arguments: {' '.join(rest)}")
    try:
        with _sigterm_as_exit():
            return int(args.handler(args, rest) or 0)
    except OpenFERError as error:
        print(f"openfer: error: {display_path(str(error))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("openfer: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of stdout went away (``openfer predict ... | head``): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


@contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """While a command runs, SIGTERM raises ``SystemExit(143)`` instead of killing the process outright, so
    the files being written are cleaned up (:mod:`openfer.files`). A handler set by the caller is kept."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def exit_now(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, exit_now)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
