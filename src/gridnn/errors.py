"""gridnn's error classes.

Every error gridnn raises on purpose derives from ``GridnnError`` and from the built-in class a
caller would expect (``ValueError`` or ``TypeError``), so ``except ValueError`` keeps working and
the command line can tell a user's mistake (one line, exit 2) from an internal bug (traceback).
"""


class GridnnError(Exception):
    """Base class of the errors gridnn raises for bad input."""


class ArgumentError(GridnnError, ValueError):
    """An argument has a wrong value or shape."""


class ArgumentTypeError(GridnnError, TypeError):
    """An argument has a wrong type or dtype."""


class DataError(GridnnError, ValueError):
    """A data, weight or run file is missing, truncated or malformed."""
