"""`scaling.fit` and `scaling fit` run without JAX: an analyst with a CSV fits in a second."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
import numpy as np
import scaling.fit
from scaling.fit import fit_law
n = np.repeat(np.geomspace(1e7, 1e9, 5), 5)
d = np.tile(np.geomspace(1e8, 1e10, 5), 5)
loss = 1.69 + 406.4 * n ** -0.34 + 410.7 * d ** -0.28
r = fit_law(n=n, d=d, loss=loss, method="varpro", bootstrap=5)
assert abs(r.params["alpha"] - 0.34) < 1e-3, r.params
print("jax" in sys.modules, "flax" in sys.modules)
"""


def test_fitting_library_never_imports_jax():
    done = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]


def test_fit_command_never_imports_jax(tmp_path):
    rows = ["n,d,loss"] + [f"{n},{d},{1.69 + 406.4 * n ** -0.34 + 410.7 * d ** -0.28}"
                           for n in (1e7, 3e7, 1e8, 3e8) for d in (1e8, 1e9, 1e10)]
    (tmp_path / "p.csv").write_text("\n".join(rows) + "\n")
    code = ("import sys\nfrom scaling.cli import main\nsys.argv = ['scaling', 'fit', sys.argv[1], '--method', "
            "'varpro', '--json']\ntry:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "print('jax' in sys.modules, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "p.csv")], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "False"
