"""``python -m gridnn``: the same as the ``gridnn`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
