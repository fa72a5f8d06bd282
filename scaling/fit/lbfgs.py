"""L-BFGS run on many starting points at once, vectorised over the starts with numpy.

Each row of the batch is an independent L-BFGS (unconstrained, so L-BFGS-B without bounds): two-loop recursion
with `memory` pairs, first step scaled to 1/|g|_1, a backtracking Armijo line search with safeguarded quadratic
interpolation, curvature-checked updates. A row stops on its own when its gradient's largest component is
below `gtol`, when its objective fell by less than `ftol` relative to max(|f|, `fscale`) (scipy's rule) for `stall`
iterations in a row, when the
line search fails (no decrease along a descent direction), or at `maxiter`. Stopped rows leave the batch, so
late iterations cost only what is still running.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# Stop reasons, per row.
CONVERGED_GTOL, CONVERGED_FTOL, LINE_SEARCH_FAILED, MAXITER, NONFINITE = 0, 1, 2, 3, 4
STATUS_TEXT = {
    CONVERGED_GTOL: "gradient below gtol",
    CONVERGED_FTOL: "relative reduction below ftol",
    LINE_SEARCH_FAILED: "line search found no decrease",
    MAXITER: "iteration limit",
    NONFINITE: "objective not finite at the start",
}


@dataclass(frozen=True)
class LbfgsOptions:
    """Tolerances of the batched L-BFGS; the defaults are the tight ones the Epoch data need."""

    memory: int = 10
    maxiter: int = 1000
    gtol: float = 1e-10
    ftol: float = 1e-12
    stall: int = 3
    fscale: float = 1.0
    c1: float = 1e-4
    c2: float = 0.9
    max_backtracks: int = 40
    grow: float = 4.0
    workers: int = 0  # threads for large batches; 0 = two when two CPUs are available and one is idle

    def as_dict(self) -> dict[str, float]:
        """The options as plain data for a result's procedure record."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class BatchResult:
    """Per-row outcome: final points, values, gradients, iterations, stop reason."""

    x: np.ndarray
    f: np.ndarray
    g: np.ndarray
    nit: np.ndarray
    status: np.ndarray


Fun = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
MIN_ROWS_PER_WORKER = 512  # smaller batches are not worth a second thread


def minimize_batch(fun: Fun, x0: np.ndarray, options: LbfgsOptions | None = None) -> BatchResult:
    """Minimise `fun` from every row of `x0` (S, P); `fun(X, idx)` returns values (k,) and gradients (k, P).

    `idx` tells `fun` which original rows it is evaluating (so per-row data such as bootstrap weights follow).
    Large batches are split between `options.workers` threads (numpy releases the GIL in its loops); rows are
    independent, so the split changes results only by floating-point rounding.
    """
    opt = options or LbfgsOptions()
    x0 = np.asarray(x0, dtype=np.float64)
    workers = _workers(opt.workers)
    if workers > 1 and x0.shape[0] >= workers * MIN_ROWS_PER_WORKER:
        from concurrent.futures import ThreadPoolExecutor

        parts = np.array_split(np.arange(x0.shape[0]), workers)

        def run(rows: np.ndarray) -> BatchResult:
            return _minimize_rows(lambda X, idx: fun(X, rows[idx]), x0[rows], opt)

        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(run, parts))
        fields = ("x", "f", "g", "nit", "status")
        return BatchResult(*(np.concatenate([getattr(r, f) for r in results]) for f in fields))
    return _minimize_rows(fun, x0, opt)


def _workers(requested: int) -> int:
    """Threads to use: `requested`, or when 0 a second thread only if this process may use two CPUs and the
    machine's load leaves one idle (a busy machine gains nothing from it and loses to the switching)."""
    if requested > 0:
        return requested
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    if cpus < 2:
        return 1
    try:
        idle = os.getloadavg()[0] < cpus - 0.5
    except OSError:
        idle = False
    return 2 if idle else 1


def _minimize_rows(fun: Fun, x0: np.ndarray, opt: LbfgsOptions) -> BatchResult:
    """The batched L-BFGS itself, on one thread."""
    X = np.array(x0, dtype=np.float64, copy=True)
    S, P = X.shape
    m = opt.memory
    f, g = fun(X, np.arange(S))
    status = np.full(S, -1)
    bad = ~(np.isfinite(f) & np.all(np.isfinite(g), axis=1))
    status[bad] = NONFINITE
    f[bad] = np.inf
    nit = np.zeros(S, dtype=np.int64)

    # The running rows, compacted: their ids, points, values, gradients and L-BFGS pairs (newest first).
    idx = np.flatnonzero(~bad)
    x, fk, gk = X[idx], f[idx], g[idx]
    s_hist = np.zeros((m, idx.size, P))
    y_hist = np.zeros((m, idx.size, P))
    rho = np.zeros((m, idx.size))
    npairs = np.zeros(idx.size, dtype=np.int64)
    stalled = np.zeros(idx.size, dtype=np.int64)

    for _ in range(opt.maxiter):
        if idx.size == 0:
            break
        d = -_two_loop(gk, npairs, s_hist, y_hist, rho)
        gd = np.einsum("ij,ij->i", gk, d)
        uphill = ~(gd < 0)
        if uphill.any():  # lost curvature information: restart from steepest descent
            gu = gk[uphill]
            d[uphill] = -gu / np.maximum(np.abs(gu).sum(1), 1e-300)[:, None]
            gd[uphill] = np.einsum("ij,ij->i", gu, d[uphill])
            npairs[uphill] = 0
        x_new, f_new, g_new, failed = _wolfe(fun, idx, x, fk, gk, d, gd, opt)
        s = x_new - x
        yv = g_new - gk
        sy = np.einsum("ij,ij->i", s, yv)
        ok = (~failed) & (sy > 1e-10 * np.sqrt(np.einsum("ij,ij->i", s, s) * np.einsum("ij,ij->i", yv, yv)))
        if ok.any():
            s_hist[1:, ok] = s_hist[:-1, ok]
            y_hist[1:, ok] = y_hist[:-1, ok]
            rho[1:, ok] = rho[:-1, ok]
            s_hist[0, ok], y_hist[0, ok], rho[0, ok] = s[ok], yv[ok], 1.0 / sy[ok]
            npairs[ok] = np.minimum(npairs[ok] + 1, m)
        rel = (fk - f_new) / np.maximum(np.maximum(np.abs(fk), np.abs(f_new)), opt.fscale)
        stalled = np.where(rel <= opt.ftol, stalled + 1, 0)
        x, fk, gk = x_new, f_new, g_new
        nit[idx] += 1
        gconv = np.abs(g_new).max(axis=1) <= opt.gtol
        fconv = stalled >= opt.stall
        done = gconv | fconv | failed
        if done.any():
            fin = idx[done]
            X[fin], f[fin], g[fin] = x[done], fk[done], gk[done]
            status[idx[gconv]] = CONVERGED_GTOL
            status[idx[fconv & ~gconv]] = CONVERGED_FTOL
            status[idx[failed & ~gconv & ~fconv]] = LINE_SEARCH_FAILED
            keep = ~done
            idx, x, fk, gk = idx[keep], x[keep], fk[keep], gk[keep]
            s_hist, y_hist, rho = s_hist[:, keep], y_hist[:, keep], rho[:, keep]
            npairs, stalled = npairs[keep], stalled[keep]
    if idx.size:
        X[idx], f[idx], g[idx] = x, fk, gk
        status[idx] = MAXITER
    return BatchResult(x=X, f=f, g=g, nit=nit, status=status)


def _two_loop(g, npairs, s_hist, y_hist, rho):
    """H_k @ g for each row by the L-BFGS two-loop recursion over its stored pairs (index 0 is the newest)."""
    q = g.copy()
    depth = int(npairs.max(initial=0))
    alphas = np.zeros((depth, g.shape[0]))
    for j in range(depth):
        valid = j < npairs
        a = np.where(valid, rho[j] * np.einsum("ij,ij->i", s_hist[j], q), 0.0)
        q -= a[:, None] * y_hist[j]
        alphas[j] = a
    gamma = np.zeros(g.shape[0])
    if depth:
        y0 = y_hist[0]
        yy = np.einsum("ij,ij->i", y0, y0)
        has = (npairs > 0) & (yy > 0)
        gamma[has] = np.einsum("ij,ij->i", s_hist[0][has], y0[has]) / yy[has]
    fresh = ~(gamma > 0)
    gamma[fresh] = 1.0 / np.maximum(np.abs(g[fresh]).sum(1), 1e-300)
    z = q * gamma[:, None]
    for j in reversed(range(depth)):
        valid = j < npairs
        b = rho[j] * np.einsum("ij,ij->i", y_hist[j], z)
        z += np.where(valid, alphas[j] - b, 0.0)[:, None] * s_hist[j]
    return z


def _wolfe(fun, idx, x, fk, gk, d, gd, opt):
    """Weak-Wolfe bracketing line search on every row, from t = 1 (after Lewis & Overton 2013).

    Too little decrease (Armijo, c1) shrinks the step: first by a safeguarded quadratic model of f along d,
    then by bisecting the bracket. Too steep a slope at the new point (curvature, c2) grows it four-fold, so
    steps lengthen on plateaus instead of crawling. A row that runs out of trials keeps its last Armijo point,
    or fails (and stops) when it has none.
    """
    k = x.shape[0]
    t = np.ones(k)
    lo = np.zeros(k)
    hi = np.full(k, np.inf)
    f_hi = np.full(k, np.inf)
    x_new, f_new, g_new = x.copy(), fk.copy(), gk.copy()
    have = np.zeros(k, dtype=bool)  # x_new holds an Armijo point
    pending = np.arange(k)
    for _ in range(opt.max_backtracks):
        tp = t[pending]
        xp = x[pending] + tp[:, None] * d[pending]
        fp, gp = fun(xp, idx[pending])
        finite = np.isfinite(fp) & np.all(np.isfinite(gp), axis=1)
        armijo = finite & (fp <= fk[pending] + opt.c1 * tp * gd[pending])
        slope = np.einsum("ij,ij->i", gp, d[pending])
        done = armijo & (slope >= opt.c2 * gd[pending])
        acc = pending[armijo]
        x_new[acc], f_new[acc], g_new[acc] = xp[armijo], fp[armijo], gp[armijo]
        have[acc] = True
        rej = pending[~armijo]
        hi[rej], f_hi[rej] = tp[~armijo], np.where(finite[~armijo], fp[~armijo], np.inf)
        grow = pending[armijo & ~done]
        lo[grow] = t[grow]
        pending = pending[~done]
        if pending.size == 0:
            break
        lo_p, hi_p, fh = lo[pending], hi[pending], f_hi[pending]
        bracketed = np.isfinite(hi_p)
        t_next = np.where(bracketed, 0.5 * (lo_p + hi_p), opt.grow * t[pending])
        first = bracketed & (lo_p == 0.0)
        if first.any():
            g0, f0, th, fth = gd[pending][first], fk[pending][first], hi_p[first], fh[first]
            denom = 2.0 * (fth - f0 - g0 * th)
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                tq = np.where(np.isfinite(fth) & (denom > 0), -g0 * th * th / denom, 0.1 * th)
            t_next[first] = np.clip(tq, 0.1 * th, 0.5 * th)
        t[pending] = t_next
    return x_new, f_new, g_new, ~have
