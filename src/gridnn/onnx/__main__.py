"""``python -m gridnn.onnx export RUN --onnx model.onnx``."""

import sys

from .cli import main

sys.exit(main())
