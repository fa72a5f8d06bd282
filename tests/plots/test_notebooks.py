"""The notebooks (jupytext percent scripts) execute top to bottom in a real kernel; a broken one fails here."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def execute(path: Path, env: dict[str, str]) -> None:
    """Convert the percent script to a notebook and run every cell (nbclient, the python3 kernel)."""
    import jupytext
    from nbclient import NotebookClient

    nb = jupytext.read(path)
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        NotebookClient(nb, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert outputs, f"{path.name} produced no output"


def test_chinchilla_notebook_reproduces_epoch(scaling_runs_dir):
    execute(NOTEBOOKS / "chinchilla_epoch.py", {"NOTEBOOK_BOOTSTRAP": "10"})


def test_sweep_notebook_trains_a_tiny_sweep_and_plots_it(tmp_path):
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=1", "JAX_PLATFORMS": "cpu"}
    if "SCALING_RUN_DIR" in os.environ:
        pytest.skip("SCALING_RUN_DIR is set: the notebook would analyse that run instead of its own")
    execute(NOTEBOOKS / "sweep_analysis.py", env)
