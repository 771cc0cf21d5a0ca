"""README's Python examples run as written (the front door must not rot)."""

import re
from pathlib import Path

import pytest

from needs_torch import require_torch

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_readme_has_examples():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, capsys):
    if "import torch" in BLOCKS[index]:  # the ONNX example opens a model built in PyTorch
        require_torch()
    exec(compile(BLOCKS[index], f"README.md block {index}", "exec"), {})
    out = capsys.readouterr().out
    assert out.strip(), "each README example prints its result"
    if "evaluate(model, test)" in BLOCKS[index]:
        accuracy = float(re.search(r"'accuracy': ([0-9.]+)", out).group(1))
        assert accuracy > 0.95
