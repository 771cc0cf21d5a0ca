"""``python -m gridnn.studio [RUN_OR_MODEL ...]``: the same as ``gridnn studio``."""

import sys

from ..cli import main

sys.exit(main(["studio", *sys.argv[1:]]))
