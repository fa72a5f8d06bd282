"""A sweep's run directory without training: a store of synthetic finished trials with known constants and the
sweep.yaml that made it, so the CLI's run-directory commands are tested in seconds and without JAX."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from scaling.sweep.store import STORE_NAME, Store

TRUE = {"E": 1.8, "A": 400.0, "B": 2000.0, "alpha": 0.34, "beta": 0.37}
SIZES = {"xs": 5e4, "s": 1.5e5, "m": 4.4e5, "xl": 1.8e6}
BUDGETS = (3e5, 1e6, 3e6, 1e7)
SWEEP = {
    "name": "synthetic", "model": {"sizes": ["xs"]}, "budget": {"kind": "tokens", "tokens": [1e6]},
    "optimizer": {"lr": {"values": [1e-3, 3e-3]}},  # a sweep axis, as RUN_DIR/sweep.yaml keeps them
    "stages": {"fit": {"laws": ["chinchilla"], "bootstrap": 20, "loss": "val_loss"}, "plot": None},
}
SCALING = Path(sys.executable).with_name("scaling")  # the installed console script


def loss_of(n: float, d: float, seed: int) -> float:
    return TRUE["E"] + TRUE["A"] / n ** TRUE["alpha"] + TRUE["B"] / d ** TRUE["beta"] + 0.004 * (seed - 0.5)


def make_run(run_dir: Path, sweep: dict | None = None) -> Path:
    """RUN_DIR with sweep.yaml and a store of 32 finished train trials (4 sizes x 4 budgets x 2 seeds) and one
    compression row, as `scaling run` leaves them."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "sweep.yaml").write_text(yaml.safe_dump(sweep or SWEEP, sort_keys=False))
    store = Store(run_dir / STORE_NAME)
    rows = [{"id": f"t{i}", "ord": i, "label": f"{size}-{d:g}-{seed}", "config": {},
             "axes": {"size": size, "budget": f"D{d:g}", "seed": seed}}
            for i, (size, d, seed) in enumerate((s, d, k) for s in SIZES for d in BUDGETS for k in (0, 1))]
    store.add_trials([*rows, {"id": "c0", "ord": 10_000, "kind": "compress", "label": "prune 0.5", "config": {},
                              "parent": "t0"}])
    for row in rows:
        axes = row["axes"]
        n, d = SIZES[axes["size"]], float(axes["budget"][1:])
        loss = loss_of(n, d, axes["seed"])
        store.claim("host:1", kind="train")
        store.finish(row["id"], "done", result={"params": {"total": int(n * 1.3), "embedding": int(n * 0.3),
                                                           "non_embedding": int(n)}, "tokens": int(d),
                                                "val_loss": loss, "train_loss": loss + 0.01})
        store.log_metrics(row["id"], 10, int(d), 6 * n * d, {"train_loss": loss + 0.5})
    store.claim("host:1", kind="compress")
    store.finish("c0", "done", result={"method": "prune", "val_loss": 4.0})
    store.close()
    return run_dir


def scaling(*args: object, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """The installed `scaling` console script, as a user runs it."""
    return subprocess.run([str(SCALING), *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=timeout)


def fingerprint(*paths: Path) -> dict[str, tuple[str, int] | None]:
    """Each file's sha256 and mtime (None where absent), to show a failed command changed nothing."""
    out: dict[str, tuple[str, int] | None] = {}
    for path in paths:
        out[str(path)] = ((hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
                          if path.is_file() else None)
    return out


def one_error_line(done: subprocess.CompletedProcess) -> str:
    """The command's stderr, asserted to be exactly one `error: ...` line and no traceback."""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert "Traceback" not in done.stderr, done.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    _record(done, lines[0])
    return lines[0]


def _record(done: subprocess.CompletedProcess, line: str) -> None:
    """With SCALING_BAD_INPUT_LOG set, append (command, exit code, message) to that file: the bad-input table
    an issue's closing note reports comes from the tests themselves."""
    log = os.environ.get("SCALING_BAD_INPUT_LOG")
    if log:
        args = [Path(a).name if "/" in str(a) else str(a) for a in done.args[1:]]
        with open(log, "a") as f:
            f.write(json.dumps({"command": "scaling " + " ".join(args), "code": done.returncode, "line": line}) + "\n")
