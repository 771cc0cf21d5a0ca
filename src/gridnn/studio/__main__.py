"""``python -m gridnn.studio [RUN_OR_MODEL ...]``: the same as ``gridnn studio``."""

import sys

from .. import cli

if "gridnn.studio.cli" not in cli.REGISTRARS:  # until the main command registers it itself
    cli.REGISTRARS = (*cli.REGISTRARS, "gridnn.studio.cli")
sys.exit(cli.main(["studio", *sys.argv[1:]]))
