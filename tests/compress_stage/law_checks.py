"""A compression law's analytic VJP against central finite differences (shared by the law tests)."""

from __future__ import annotations

import numpy as np
import pytest


def assert_vjp_matches_fd(law, theta, data, rng, rel: float = 1e-4, abs_: float = 1e-6) -> None:
    """`law.log_vjp` at `theta` (1, n_params) along a random cotangent equals the finite-difference derivative."""
    f, ctx = law.log_predict(theta, data)
    assert np.all(np.isfinite(f))
    v = rng.normal(size=f.shape)
    g = law.log_vjp(ctx, v)[0]
    for j in range(law.n_params):
        step = np.zeros_like(theta)
        step[0, j] = 1e-6
        fd = ((law.log_predict(theta + step, data)[0] - law.log_predict(theta - step, data)[0]) * v).sum() / 2e-6
        assert g[j] == pytest.approx(fd, rel=rel, abs=abs_), (law.name, j)
