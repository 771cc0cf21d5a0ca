"""Lines for the person at the terminal: training's progress and notes.

Training must not depend on anyone reading its output: when stdout's reader has gone
(``gridnn train | head -1`` closes the pipe), ``say`` points stdout at the null device and
training goes on to write its run folder, which is the result that matters.
"""

from __future__ import annotations

import os
import sys


def detach_stdout() -> None:
    """Point stdout's file descriptor at the null device: later writes, and the flush Python
    makes at exit, then succeed silently instead of raising BrokenPipeError."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def say(text: str) -> None:
    """Print ``text`` to stdout at once; a closed pipe silences this and every later line."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        detach_stdout()


def note(text: str) -> None:
    """'gridnn: note: ...' on stderr: something was done to the user's input on their behalf."""
    print(f"gridnn: note: {text}", file=sys.stderr, flush=True)
