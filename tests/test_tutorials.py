"""Every tutorial of docs/tutorials runs top to bottom in a real Jupyter kernel (nbclient), with
the answers of solutions.py put in its exercise cells, so every hidden check must pass; a wrong
answer must fail its check. A failing cell fails the test."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")

TUTORIALS = Path(__file__).resolve().parent.parent / "docs" / "tutorials"
NOTEBOOKS = sorted(TUTORIALS.glob("[0-9][0-9]_*.py"))
SECONDS = 180  # each runs in under 60 s on an idle 2-core machine; the CPU here is shared


def solutions() -> dict[str, str]:
    """{'01-1': source, ...}: the cells of solutions.py titled 'solution NN-K'."""
    nb = jupytext.read(TUTORIALS / "solutions.py")
    found = {}
    for cell in nb.cells:
        m = re.fullmatch(r"solution (\d\d-\d)", cell.metadata.get("title", ""))
        if m:
            found[m.group(1)] = cell.source
    return found


def exercises(nb) -> dict[str, object]:
    return {m.group(1): cell for cell in nb.cells
            if (m := re.fullmatch(r"exercise (\d\d-\d)", cell.metadata.get("title", "")))}


def execute(nb) -> None:
    client = nbclient.NotebookClient(nb, timeout=SECONDS, kernel_name="python3",
                                     resources={"metadata": {"path": str(TUTORIALS)}})
    client.execute()


def printed(nb) -> str:
    return "".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                   for out in cell.get("outputs", []))


def test_six_tutorials_each_with_two_or_three_exercises_and_their_solutions() -> None:
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06"]
    answers = solutions()
    for path in NOTEBOOKS:
        found = exercises(jupytext.read(path))
        assert 2 <= len(found) <= 3, f"{path.name}: {len(found)} exercises"
        assert all(key.startswith(path.name[:2]) for key in found), path.name
        missing = set(found) - set(answers)
        assert not missing, f"{path.name}: no solution for {sorted(missing)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_tutorial_runs_and_its_solutions_pass_the_checks(path: Path) -> None:
    nb = jupytext.read(path)
    answers = solutions()
    cells = exercises(nb)
    for key, cell in cells.items():
        cell.source = answers[key]
    start = time.perf_counter()
    execute(nb)
    seconds = time.perf_counter() - start
    text = printed(nb)
    unshown = [cell.source[:60] for cell in nb.cells if cell.cell_type == "code"
               for out in cell.get("outputs", [])
               if out.get("data", {}).get("text/plain", "").startswith("<Figure size")
               and "image/png" not in out["data"]]
    assert not unshown, f"figures shown as text, not drawn: {unshown}"
    assert "not answered yet" not in text
    assert text.count(": correct") == len(cells), text[-2000:]
    assert seconds < SECONDS


def test_a_wrong_answer_fails_its_check() -> None:
    nb = jupytext.read(NOTEBOOKS[0])
    exercises(nb)["01-1"].source = "b1 = 1.0"
    with pytest.raises(nbclient.exceptions.CellExecutionError, match="not yet"):
        execute(nb)
