"""What every command line of the package shares: validated argument types and a runner.

The types turn a bad value into argparse's one-line error with exit status 2. :func:`run`
wraps a ``main``: an error it expects (bad data, a missing or corrupt file, an unusable
target) becomes one line on stderr and exit status 2, never a traceback; anything else is
one line and exit status 1 (``NWS_TRACEBACK=1`` shows the traceback).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable


def positive_int(text: str) -> int:
    """An integer ≥ 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be a positive integer")
    return value


def seed(text: str) -> int:
    """A seed: an integer in [0, 2**32)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"{value} must be in 0..{2**32 - 1}")
    return value


def out_dir(text: str) -> Path:
    """An output folder: created later if absent, but not an existing file."""
    if not text:
        raise argparse.ArgumentTypeError("an empty path is not a folder")
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is a file, expected a folder")
    return path


def data_dir(text: str) -> str:
    """An NWS root: an fsspec URL, or a local folder that exists."""
    if not text:
        raise argparse.ArgumentTypeError("an empty path is not an NWS root")
    if "://" in text:
        return text
    path = Path(text).expanduser()
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} {'is not a folder' if path.exists() else 'does not exist'}")
    return str(path)


class CLIError(Exception):
    """An expected failure of a command: reported in one line, exit status 2."""


def expected_errors() -> tuple[type[BaseException], ...]:
    from .schema import RecordError
    from .sources import SourceError

    return (CLIError, RecordError, SourceError, ValueError, OSError, KeyError)


def run_main(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Call ``main(argv)``; report failures in one line instead of a traceback (module docstring)."""
    try:
        return main(argv)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - the point is one line, never a traceback
        if os.environ.get("NWS_TRACEBACK"):
            raise
        message = " ".join(str(err).split()) or type(err).__name__
        expected = isinstance(err, expected_errors())
        print(f"error: {message}" if expected else f"error ({type(err).__name__}): {message} "
              "(set NWS_TRACEBACK=1 for the traceback)", file=sys.stderr)
        return 2 if expected else 1
