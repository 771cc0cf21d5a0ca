"""JupyterLab (or Notebook 7) on 127.0.0.1 with a token, in a subprocess with its own config,
data, runtime and workspace folders, for the notebook browser test and the widget screenshot:

    lab = JupyterLab(folder)          # starts it, waits until it answers; app="notebook": Nb 7
    driver.get(lab.notebook_url("widget.ipynb"))
    ...
    lab.stop()                        # shuts its kernels and the server down
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat

# Lab's announcements would ask to fetch news from the network; nothing here may.
PAGE_CONFIG = {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}


def write_notebook(path: Path, *sources: str) -> Path:
    """A notebook of code cells with the python3 kernel."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, str(path))
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterLab:
    """A JupyterLab (``app='jupyterlab'``) or Notebook 7 (``app='notebook'``) server serving
    ``root`` on 127.0.0.1 (see the module docstring)."""

    def __init__(self, root: Path, timeout: float = 90.0, app: str = "jupyterlab") -> None:
        self.app = app
        self.root, self.token, self.port = Path(root), secrets.token_hex(16), _free_port()
        self.home = Path(tempfile.mkdtemp(prefix="gridnn-jupyter-"))
        config = self.home / "config"
        (config / "labconfig").mkdir(parents=True)
        (config / "labconfig" / "page_config.json").write_text(json.dumps(PAGE_CONFIG))
        env = dict(os.environ, JUPYTER_CONFIG_DIR=str(config),
                   JUPYTER_DATA_DIR=str(self.home / "data"),
                   JUPYTER_RUNTIME_DIR=str(self.home / "runtime"),
                   JUPYTERLAB_WORKSPACES_DIR=str(self.home / "workspaces"),
                   IPYTHONDIR=str(self.home / "ipython"), MPLBACKEND="agg")
        self.log = open(self.home / "server.log", "wb")  # noqa: SIM115 - closed by stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", app, "--no-browser", "--ip=127.0.0.1",
             f"--port={self.port}", "--port-retries=0", f"--IdentityProvider.token={self.token}",
             f"--ServerApp.root_dir={self.root}",
             *(["--LabApp.expose_app_in_browser=True",
                # no extension manager looking things up on PyPI
                "--LabApp.extension_manager=readonly"] if app == "jupyterlab" else
               ["--JupyterNotebookApp.expose_app_in_browser=True"]),
             *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])],
            env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(self.url("api/status"), timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"JupyterLab did not start: {self.log_text()[-3000:]}")
            time.sleep(0.3)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}?token={self.token}"

    def notebook_url(self, name: str) -> str:
        return self.url(f"lab/tree/{name}" if self.app == "jupyterlab" else f"notebooks/{name}")

    def log_text(self) -> str:
        return (self.home / "server.log").read_text(errors="replace")

    def stop(self) -> None:
        """Shut down the kernels and the server (POST /api/shutdown), then make sure."""
        if self.process.poll() is None:
            try:
                request = urllib.request.Request(self.url("api/shutdown"), method="POST")
                urllib.request.urlopen(request, timeout=5).close()
            except OSError:
                pass
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()


def run_all_cells(driver, timeout: float = 90.0) -> None:
    """In the open notebook, wait for its kernel to be idle, then run every cell."""
    driver.set_script_timeout(timeout)
    driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const t0 = Date.now();
        const poll = async () => {
          try {
            const app = window.jupyterapp;
            const panel = app && app.shell.currentWidget;
            const kernel = panel && panel.sessionContext && panel.sessionContext.session
              && panel.sessionContext.session.kernel;
            if (kernel && kernel.status === "idle" && panel.content.widgets.length) {
              await app.commands.execute("notebook:run-all-cells");
              done("ok");
              return;
            }
          } catch (e) { done("error: " + e); return; }
          if (Date.now() - t0 > arguments[0] * 1000) { done("timeout"); return; }
          setTimeout(poll, 250);
        };
        poll();
    """, timeout - 5)
