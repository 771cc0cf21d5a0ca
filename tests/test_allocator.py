"""gridnn._allocator: the command line keeps freed memory for reuse, and it can be turned off.

Each case runs in a fresh interpreter: malloc settings belong to the whole process.
"""

import json
import os
import subprocess
import sys

import pytest

PROBE = """
import json, resource, sys
import numpy as np
from gridnn._allocator import keep_freed_memory
state = keep_freed_memory() if sys.argv[1] == "tune" else "untouched"
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
def step():  # what a training step does: fill 8 activations of 12 MiB, then free them all
    kept = [np.ones(3 << 20, np.float32) for _ in range(8)]
step()  # warm up: the first time, the memory is new in any case
before = faults()
for _ in range(10):
    step()
print(json.dumps({"state": state, "faults": faults() - before}))
"""

linux_glibc = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")


def probe(mode: str, **env: str) -> dict:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("GRIDNN_MALLOC", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")}
    done = subprocess.run([sys.executable, "-c", PROBE, mode], env={**clean, **env},
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


@linux_glibc
def test_kept_memory_is_reused_without_page_faults():
    plain, tuned = probe("plain"), probe("tune")
    assert tuned["state"].startswith("kept (mmap threshold 32 MiB")
    # By default glibc hands the 96 MiB back after each step and maps it again on the next:
    # ~41,000 faults here (fewer with transparent huge pages, but never none); kept, ~0.
    assert plain["faults"] >= 10 * 48, plain  # at least one fault per 2 MiB page per step
    assert tuned["faults"] * 10 < plain["faults"], (plain, tuned)


@linux_glibc
def test_opt_out_and_glibc_variables_win():
    off, tuned = probe("tune", GRIDNN_MALLOC="system"), probe("tune")
    assert off["state"] == "system defaults (GRIDNN_MALLOC=system)"
    assert off["faults"] > 10 * max(tuned["faults"], 1), (off, tuned)
    own = probe("tune", MALLOC_MMAP_THRESHOLD_="1048576")
    assert own["state"] == "as set by MALLOC_MMAP_THRESHOLD_=1048576"


def test_an_unknown_setting_is_one_line_and_exit_2():
    clean = {k: v for k, v in os.environ.items() if k != "GRIDNN_MALLOC"}
    done = subprocess.run([sys.executable, "-m", "gridnn", "datasets"], capture_output=True,
                          text=True, env={**clean, "GRIDNN_MALLOC": "off"})
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == ("gridnn: error: environment variable GRIDNN_MALLOC must be 'kept' or "
                           "'system', received 'off'\n")
