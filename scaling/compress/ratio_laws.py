"""Compression laws in the fitting library's form (log-space prediction with an analytic VJP), registered by
name on import, plus a small least-squares fitter for them and for the effective-parameter inversion.

- `frantar_sparsity`: L(S, N, D) = (a (1-S)^b + c) N^-d + e D^-f + g   (Frantar et al. 2023, arXiv:2309.08520),
  N the number of non-zero parameters
- `frantar_sparsity_fixed_d`: its reduced form at one D, L(S, N) = (a (1-S)^b + c) N^-d + E
- `frantar_sparsity_delta`: its loss against the same model dense, L = L0 + a ((1-S)^-b - 1) N^-d with L0 the
  source's measured dense loss and N the dense model's parameters (one of the two sparsity terms the law's
  difference has; see the class): 3 parameters on the pruned rows, identified from a few sources whatever their D
- `kumar_ptq`: delta_PTQ(P, N, D) = C_T e^(-P/gamma) D^gamma_D / N^gamma_N  (Kumar et al. 2024, arXiv:2411.04330)
- `kumar_ptq_tied`: the same with gamma_D = gamma_N, delta = C_T e^(-P/gamma) (D/N)^gamma_DN, for sources whose
  N and D do not vary independently
- `ptq_bits`: its reduced form at one (N, D), delta(P) = C e^(-P/gamma); `ptq_bits_by_source` (built per fit,
  not registered): delta = C_i e^(-P/gamma) with each source its own scale C_i and gamma shared
- `kumar_ptq_effective`: the effective-parameter form of Kumar et al., L(N, D, P) = A N_eff^-alpha + B D^-beta + E
  with N_eff = N (1 - e^(-P/gamma)), written as its degradation against the same model unquantized,
  delta = A N^-alpha ((1 - e^(-P/gamma))^-alpha - 1) (B, beta and E cancel; A, alpha come from a Chinchilla fit)
- `distill_teacher_floor`: L_student = L_teacher + A N_student^-alpha, a reduced form of Busbridge et al. 2025
  (arXiv:2502.08606) at fixed student tokens: the student approaches its teacher's loss as it grows.
- `busbridge_distill_reduced`: L_S = L_T + k L_T^-c0 (L~_S - E), Busbridge et al.'s law with the student's
  supervised loss L~_S measured (its plain-CE twin), E from a Chinchilla fit, and the broken-power-law factor one
  constant k over the data.

The `ptq` laws predict the *degradation* (compressed minus uncompressed loss), which must be
positive. Exponents the papers' forms require positive (Frantar's b, d, f and the delta form's b, d; Kumar's
gamma_D, gamma_N) are fitted through their logs (the fitting library has no bounds), so a fit cannot return a
negative one; `exponents` on each law names its exponents for the compression fits' warnings.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize

from scaling.errors import UserError
from scaling.fit.laws import Coord, Law, _lse
from scaling.fit.registry import register_law


class FrantarSparsity(Law):
    """L = (a (1-S)^b + c) N^-d + e D^-f + g, fitted as log L = LSE of four log-terms; the exponents b, d, f are
    fitted through their logs, so they stay positive as the paper's form requires."""

    name = "frantar_sparsity"
    formula = "L = (a (1-S)^b + c) N^-d + e D^-f + g, N = non-zero parameters"
    inputs = ("s", "n", "d")
    coords = (Coord("ln_a", "a", log=True), Coord("ln_b", "b", log=True), Coord("ln_c", "c", log=True),
              Coord("ln_d", "d", log=True), Coord("ln_e", "e", log=True), Coord("ln_f", "f", log=True),
              Coord("ln_g", "g", log=True))
    params = ("a", "b", "c", "d", "e", "f", "g")
    exponents = ("b", "d", "f")
    start_grid = {"ln_a": (0.0, 5.0), "ln_b": (math.log(0.5), math.log(2.0)), "ln_c": (2.0,),
                  "ln_d": (math.log(0.2), math.log(0.5)), "ln_e": (0.0, 5.0), "ln_f": (math.log(0.2), math.log(0.5)),
                  "ln_g": (0.0,)}
    reference = "Frantar et al. 2023, Scaling Laws for Sparsely-Connected Foundation Models (arXiv:2309.08520)"

    def prepare(self, cols):
        s = np.asarray(cols["s"], dtype=np.float64)
        return {"ln_1ms": np.log1p(-s), "ln_n": np.log(np.asarray(cols["n"], dtype=np.float64)),
                "ln_d": np.log(np.asarray(cols["d"], dtype=np.float64))}

    def log_predict(self, theta, data):
        la, lb, lc, ld, le, lf, lg = (theta[:, j, None] for j in range(7))
        b, d, f = np.exp(lb), np.exp(ld), np.exp(lf)
        ln_1ms, ln_n, ln_d = data["ln_1ms"], data["ln_n"], data["ln_d"]
        t1 = la + b * ln_1ms - d * ln_n
        t2 = lc - d * ln_n
        t3 = le - f * ln_d
        t4 = np.broadcast_to(lg, t1.shape)
        out, ps = _lse([t1, t2, t3, t4])
        return out, (ps, ln_1ms, ln_n, ln_d, b[:, 0], d[:, 0], f[:, 0])

    def log_vjp(self, ctx, v):
        (p1, p2, p3, p4), ln_1ms, ln_n, ln_d, b, d, f = ctx
        q1, q2, q3 = v * p1, v * p2, v * p3
        return np.stack([q1.sum(1), b * (q1 @ ln_1ms), q2.sum(1), -d * ((q1 + q2) @ ln_n), q3.sum(1),
                         -f * (q3 @ ln_d), (v * p4).sum(1)], axis=1)


class FrantarSparsityFixedD(Law):
    """L = (a (1-S)^b + c) N^-d + E at one data budget (e D^-f + g folded into E); b, d positive (log-fitted)."""

    name = "frantar_sparsity_fixed_d"
    formula = "L = (a (1-S)^b + c) N^-d + E, N = non-zero parameters"
    inputs = ("s", "n")
    coords = (Coord("ln_a", "a", log=True), Coord("ln_b", "b", log=True), Coord("ln_c", "c", log=True),
              Coord("ln_d", "d", log=True), Coord("ln_E", "E", log=True))
    params = ("a", "b", "c", "d", "E")
    exponents = ("b", "d")
    start_grid = {"ln_a": (0.0, 5.0), "ln_b": (math.log(0.5), math.log(2.0)), "ln_c": (0.0, 5.0),
                  "ln_d": (math.log(0.2), math.log(0.5)), "ln_E": (-1.0, 0.5)}
    reference = FrantarSparsity.reference + ", at fixed D"

    def prepare(self, cols):
        s = np.asarray(cols["s"], dtype=np.float64)
        return {"ln_1ms": np.log1p(-s), "ln_n": np.log(np.asarray(cols["n"], dtype=np.float64))}

    def log_predict(self, theta, data):
        la, lb, lc, ld, le = (theta[:, j, None] for j in range(5))
        b, d = np.exp(lb), np.exp(ld)
        ln_1ms, ln_n = data["ln_1ms"], data["ln_n"]
        t1 = la + b * ln_1ms - d * ln_n
        t2 = lc - d * ln_n
        out, ps = _lse([t1, t2, np.broadcast_to(le, t1.shape)])
        return out, (ps, ln_1ms, ln_n, b[:, 0], d[:, 0])

    def log_vjp(self, ctx, v):
        (p1, p2, p3), ln_1ms, ln_n, b, d = ctx
        q1, q2 = v * p1, v * p2
        return np.stack([q1.sum(1), b * (q1 @ ln_1ms), q2.sum(1), -d * ((q1 + q2) @ ln_n), (v * p3).sum(1)], axis=1)


class FrantarSparsityDelta(Law):
    """L = L0 + a ((1-S)^-b - 1) N^-d: a model pruned to sparsity S against the same model dense, whose measured
    loss L0 is the reference (an input, not a parameter); N = the DENSE model's parameters (the source's N);
    a, b, d > 0, all fitted through their logs. Fitted on the pruned losses, like the paper's law.

    Derivation. Frantar et al.'s law counts N as non-zero parameters. A dense model with N parameters pruned to S
    keeps N (1-S) of them, so at its own D (the D term e D^-f + g cancels)

        L(S) - L(0) = N^-b_N [a_S ((1-S)^(b_S - b_N) - 1) + c_S ((1-S)^-b_N - 1)],

    a sum of two terms k N^-b_N ((1-S)^-e - 1), with e = b_N - b_S and e = b_N. This law keeps one such term with
    its own sparsity exponent b: d = Frantar's b_N; b = b_N when a_S = 0 (a pruned model is worth a dense model
    of its non-zero count), b = b_N - b_S when c_S = 0. Three parameters, each source's own dense loss the
    reference, so it is identified from a few sources whatever their D.
    """

    name = "frantar_sparsity_delta"
    formula = ("L(S, N) = L(0, N) + a ((1-S)^-b - 1) N^-d, L(0, N) = the source's measured dense loss, "
               "N = the dense model's parameters")
    inputs = ("s", "n", "l0")
    coords = (Coord("ln_a", "a", log=True), Coord("ln_b", "b", log=True), Coord("ln_d", "d", log=True))
    params = ("a", "b", "d")
    exponents = ("b", "d")
    start_grid = {"ln_a": (-3.0, 0.0, 3.0, 6.0), "ln_b": (math.log(0.3), math.log(1.0), math.log(3.0)),
                  "ln_d": (math.log(0.05), math.log(0.3), math.log(1.0))}
    reference = (FrantarSparsity.reference + ": its loss against the same model dense (N = the dense count, "
                 "N (1-S) non-zero; one of the two sparsity terms of the law's difference; D cancels)")

    def prepare(self, cols):
        s = np.asarray(cols["s"], dtype=np.float64)
        if np.any((s < 0) | (s >= 1)):
            raise UserError(f"law {self.name!r}: sparsity must lie in [0, 1)")
        return {"w": -np.log1p(-s), "ln_n": np.log(np.asarray(cols["n"], dtype=np.float64)),
                "ln_l0": np.log(np.asarray(cols["l0"], dtype=np.float64))}

    def log_predict(self, theta, data):
        la, lb, ld = (theta[:, j, None] for j in range(3))
        b, d = np.exp(lb), np.exp(ld)
        z = b * data["w"]  # -b log(1-S) >= 0: (1-S)^-b = e^z
        with np.errstate(over="ignore", divide="ignore"):
            log_em1 = np.where(z > 30.0, z + np.log1p(-np.exp(-np.minimum(z, 700.0))),
                               np.log(np.expm1(np.minimum(z, 30.0))))  # -inf at S = 0: the dense loss itself
            dz = np.where(z > 0, z / -np.expm1(-np.where(z > 0, z, 1.0)), 1.0)  # d log(e^z - 1) / d log b
        t = la - d * data["ln_n"] + log_em1
        out, (_, p2) = _lse([np.broadcast_to(data["ln_l0"], t.shape), t])
        return out, (p2, dz, d[:, 0], data["ln_n"])

    def log_vjp(self, ctx, v):
        p2, dz, d, ln_n = ctx
        q = v * p2
        return np.stack([q.sum(1), np.einsum("ij,ij->i", q, dz), -d * (q @ ln_n)], axis=1)


class KumarPTQ(Law):
    """delta = C_T e^(-P/gamma) D^gamma_D / N^gamma_N: log-linear except in the (log-fitted, positive) exponents."""

    name = "kumar_ptq"
    formula = "delta_PTQ = C_T e^(-P/gamma) D^gamma_D / N^gamma_N"
    inputs = ("p", "n", "d")
    coords = (Coord("ln_C_T", "C_T", log=True), Coord("ln_gamma", "gamma", log=True),
              Coord("ln_gamma_D", "gamma_D", log=True), Coord("ln_gamma_N", "gamma_N", log=True))
    params = ("C_T", "gamma", "gamma_D", "gamma_N")
    exponents = ("gamma", "gamma_D", "gamma_N")
    start_grid = {"ln_C_T": (-2.0, 2.0, 6.0), "ln_gamma": (0.0, 1.0, 2.0),
                  "ln_gamma_D": (math.log(0.1), math.log(0.5)), "ln_gamma_N": (math.log(0.1), math.log(0.5))}
    reference = "Kumar et al. 2024, Scaling Laws for Precision (arXiv:2411.04330), post-training quantization"

    def prepare(self, cols):
        return {"p": np.asarray(cols["p"], dtype=np.float64), "ln_n": np.log(np.asarray(cols["n"], np.float64)),
                "ln_d": np.log(np.asarray(cols["d"], np.float64))}

    def log_predict(self, theta, data):
        lc, lg, lgd, lgn = (theta[:, j, None] for j in range(4))
        gd, gn = np.exp(lgd), np.exp(lgn)
        p_over_g = data["p"] * np.exp(-lg)
        return lc - p_over_g + gd * data["ln_d"] - gn * data["ln_n"], (p_over_g, data, gd[:, 0], gn[:, 0])

    def log_vjp(self, ctx, v):
        p_over_g, data, gd, gn = ctx
        return np.stack([v.sum(1), np.einsum("ij,ij->i", v, p_over_g), gd * (v @ data["ln_d"]),
                         -gn * (v @ data["ln_n"])], axis=1)


class KumarPTQTied(Law):
    """delta = C_T e^(-P/gamma) (D/N)^gamma_DN: Kumar's PTQ law with gamma_D = gamma_N (log-fitted, positive).

    For sources whose N and D grow together (an IsoFLOP selection) the data fix one exponent along that line,
    not gamma_D and gamma_N apart; tying them reads the degradation as a power of tokens per parameter, Kumar et
    al.'s finding that PTQ degrades a model more the more it was trained per parameter.
    """

    name = "kumar_ptq_tied"
    formula = "delta_PTQ = C_T e^(-P/gamma) (D/N)^gamma_DN"
    inputs = ("p", "n", "d")
    coords = (Coord("ln_C_T", "C_T", log=True), Coord("ln_gamma", "gamma", log=True),
              Coord("ln_gamma_DN", "gamma_DN", log=True))
    params = ("C_T", "gamma", "gamma_DN")
    exponents = ("gamma", "gamma_DN")
    start_grid = {"ln_C_T": (-6.0, -2.0, 2.0), "ln_gamma": (0.0, 1.0, 2.0),
                  "ln_gamma_DN": (math.log(0.1), math.log(0.5), math.log(2.0))}
    reference = KumarPTQ.reference + ", with gamma_D = gamma_N"

    def prepare(self, cols):
        return {"p": np.asarray(cols["p"], dtype=np.float64),
                "ln_r": np.log(np.asarray(cols["d"], np.float64)) - np.log(np.asarray(cols["n"], np.float64))}

    def log_predict(self, theta, data):
        lc, lg, lr = (theta[:, j, None] for j in range(3))
        g = np.exp(lr)
        p_over_g = data["p"] * np.exp(-lg)
        return lc - p_over_g + g * data["ln_r"], (p_over_g, data["ln_r"], g[:, 0])

    def log_vjp(self, ctx, v):
        p_over_g, ln_r, g = ctx
        return np.stack([v.sum(1), np.einsum("ij,ij->i", v, p_over_g), g * (v @ ln_r)], axis=1)


class PTQBits(Law):
    """delta = C e^(-P/gamma) at one (N, D)."""

    name = "ptq_bits"
    formula = "delta_PTQ = C e^(-P/gamma)"
    inputs = ("p",)
    coords = (Coord("ln_C", "C", log=True), Coord("ln_gamma", "gamma", log=True))
    params = ("C", "gamma")
    exponents = ("gamma",)
    start_grid = {"ln_C": (-2.0, 0.0, 2.0, 6.0), "ln_gamma": (-0.5, 0.0, 1.0, 2.0)}
    reference = KumarPTQ.reference + ", at fixed N and D"

    def prepare(self, cols):
        return {"p": np.asarray(cols["p"], dtype=np.float64)}

    def log_predict(self, theta, data):
        lc, lg = theta[:, 0, None], theta[:, 1, None]
        p_over_g = data["p"] * np.exp(-lg)
        return lc - p_over_g, p_over_g

    def log_vjp(self, ctx, v):
        return np.stack([v.sum(1), np.einsum("ij,ij->i", v, ctx)], axis=1)


class PTQBitsBySource(Law):
    """delta = C_i e^(-P/gamma): one bit sensitivity gamma over every source, each source i its own scale C_i.

    What several sources identify without a model of how the degradation scales with N and D: the `src` column
    is each row's source index (0 .. k-1); the C_i are the sources' own references (nuisance parameters, like
    the dense loss of the sparsity delta form). Built per fit (the number of C_i is the number of sources).
    """

    name = "ptq_bits_by_source"
    formula = "delta_PTQ = C_i e^(-P/gamma), C_i per source"
    inputs = ("p", "src")
    exponents = ("gamma",)
    reference = KumarPTQ.reference + ", at each source's own N and D, gamma shared"

    def __init__(self, labels: tuple[str, ...] | list[str]):
        self.labels = tuple(str(x) for x in labels)
        scales = tuple(f"C[{lab}]" for lab in self.labels)
        self.coords = (Coord("ln_gamma", "gamma", log=True),
                       *(Coord(f"ln_C_{i}", c, log=True) for i, c in enumerate(scales)))
        self.params = ("gamma", *scales)
        self.nuisance = scales
        self.start_grid = {"ln_gamma": (-0.5, 0.0, 0.5, 1.0, 1.5, 2.0),
                           **{f"ln_C_{i}": (0.0,) for i in range(len(scales))}}

    def prepare(self, cols):
        idx = np.asarray(cols["src"], dtype=np.float64).astype(np.int64)
        return {"p": np.asarray(cols["p"], dtype=np.float64), "onehot": np.eye(len(self.labels))[idx]}

    def log_predict(self, theta, data):
        p_over_g = data["p"] * np.exp(-theta[:, 0, None])
        return theta[:, 1:] @ data["onehot"].T - p_over_g, (p_over_g, data["onehot"])

    def log_vjp(self, ctx, v):
        p_over_g, onehot = ctx
        return np.concatenate([np.einsum("ij,ij->i", v, p_over_g)[:, None], v @ onehot], axis=1)


class KumarPTQEffective(Law):
    """delta = A N^-alpha ((1 - e^(-P/gamma))^-alpha - 1): the loss an effective N_eff = N (1 - e^(-P/gamma))
    adds to the Chinchilla form at the model's own N (A, alpha usually fixed from the run's Chinchilla fit).

    The input is `n_src`, the source's N: with A and alpha fixed one model size identifies gamma, which a column
    named `n` would refuse (the fitting library asks for two distinct N to fit an N exponent).
    """

    name = "kumar_ptq_effective"
    formula = "L(N, D, P) = A N_eff^-alpha + B D^-beta + E, N_eff = N (1 - e^(-P/gamma)); fitted as delta_PTQ = " \
              "A N^-alpha ((1 - e^(-P/gamma))^-alpha - 1)"
    inputs = ("p", "n_src")
    coords = (Coord("ln_A", "A", log=True), Coord("alpha", "alpha"), Coord("ln_gamma", "gamma", log=True))
    params = ("A", "alpha", "gamma")
    exponents = ("alpha", "gamma")
    start_grid = {"ln_A": (3.0, 6.0), "alpha": (0.3,), "ln_gamma": (-0.5, 0.0, 0.5, 1.0, 1.5, 2.0)}
    reference = KumarPTQ.reference + ", effective-parameter form N_eff = N (1 - e^(-P/gamma))"

    def prepare(self, cols):
        return {"p": np.asarray(cols["p"], dtype=np.float64),
                "ln_n": np.log(np.asarray(cols["n_src"], dtype=np.float64))}

    def log_predict(self, theta, data):
        la, alpha, lg = (theta[:, j, None] for j in range(3))
        u = data["p"] * np.exp(-lg)  # P / gamma, (k, n)
        q = np.exp(-u)
        neg_l1q = -np.log1p(-q)  # -log(1 - q) > 0
        # log(-log(1 - q)) without underflow: -log(1 - q) = q (1 + q/2 + ...) when q is tiny
        log_neg_l1q = np.where(q < 1e-8, -u + 0.5 * q, np.log(np.where(q < 1e-8, 1.0, neg_l1q)))
        z = alpha * neg_l1q  # (1 - q)^-alpha = e^z
        with np.errstate(divide="ignore", invalid="ignore"):
            log_g = np.where(z > 1e-10, np.log(np.expm1(np.maximum(z, 1e-10))),
                             np.log(alpha) + log_neg_l1q + 0.5 * z)  # log((1 - q)^-alpha - 1)
        log_expm1_u = np.where(u > 30.0, u + np.log1p(-np.exp(-np.minimum(u, 700.0))),
                               np.log(np.expm1(np.minimum(u, 30.0))))
        return la - alpha * data["ln_n"] + log_g, (u, neg_l1q, log_neg_l1q, log_g, log_expm1_u, alpha, data["ln_n"])

    def log_vjp(self, ctx, v):
        u, neg_l1q, log_neg_l1q, log_g, log_expm1_u, alpha, ln_n = ctx
        d_alpha = -ln_n[None, :] + neg_l1q + np.exp(log_neg_l1q - log_g)  # d log g / d alpha = -log(1-q) (1 + 1/g)
        d_lg = alpha * u * (np.exp(-log_expm1_u) + np.exp(-log_expm1_u - log_g))  # alpha u q/(1-q) (1 + 1/g)
        return np.stack([v.sum(1), np.einsum("ij,ij->i", v, d_alpha), np.einsum("ij,ij->i", v, d_lg)], axis=1)


class DistillTeacherFloor(Law):
    """L_student = L_teacher + A N_student^-alpha (t is the teacher's loss, n the student's parameters)."""

    name = "distill_teacher_floor"
    formula = "L_S = L_T + A N_S^-alpha"
    inputs = ("t", "n")
    coords = (Coord("ln_A", "A", log=True), Coord("alpha", "alpha"))
    params = ("A", "alpha")
    exponents = ("alpha",)
    start_grid = {"ln_A": (0.0, 3.0, 6.0, 10.0), "alpha": (0.1, 0.3, 0.6, 1.0)}
    reference = "reduced form of Busbridge et al. 2025, Distillation Scaling Laws (arXiv:2502.08606)"

    def log_predict(self, theta, data):
        la, alpha = theta[:, 0, None], theta[:, 1, None]
        t2 = la - alpha * data["ln_n"]
        out, (p1, p2) = _lse([np.broadcast_to(data["ln_t"], t2.shape), t2])
        return out, (p2, data["ln_n"])

    def log_vjp(self, ctx, v):
        p2, ln_n = ctx
        q = v * p2
        return np.stack([q.sum(1), -(q @ ln_n)], axis=1)


class BusbridgeDistillReduced(Law):
    """L_S = L_T + k L_T^-c0 (L~_S - E): t is the teacher's loss, l_sup the student's supervised (plain-CE) loss.

    Busbridge et al.'s A N_S^-alpha + B D_S^-beta is the student's supervised loss above E, so it is L~_S - E
    with L~_S measured on the twin; E is the Chinchilla irreducible loss (fixed in a fit, L~_S > E required).
    """

    name = "busbridge_distill_reduced"
    formula = "L_S = L_T + k L_T^-c0 (L~_S - E)"
    inputs = ("t", "l_sup")
    coords = (Coord("ln_k", "k", log=True), Coord("c0", "c0"), Coord("ln_E", "E", log=True))
    params = ("k", "c0", "E")
    exponents = ("c0",)
    signed = ("c0",)  # L_T^-c0 may rise or fall with the teacher's loss: no sign warning
    start_grid = {"ln_k": (-3.0, -1.5, 0.0, 1.0), "c0": (-1.0, 0.0, 1.0, 2.5), "ln_E": (0.0,)}
    reference = ("reduced form of Busbridge et al. 2025, Distillation Scaling Laws (arXiv:2502.08606), eq. 8: "
                 "L_S = L_T + L_T^-c0 (1 + (L_T/(L~_S d1))^(1/f1))^(-c1 f1) (A N_S^-alpha + B D_S^-beta), with "
                 "A N_S^-alpha + B D_S^-beta = L~_S - E (L~_S measured on the plain-CE twin) and the broken-power-"
                 "law factor (1 + ...)^(-c1 f1) one constant k over the data (c1, d1, f1 not fitted)")

    def prepare(self, cols):
        return {"ln_t": np.log(np.asarray(cols["t"], dtype=np.float64)),
                "l_sup": np.asarray(cols["l_sup"], dtype=np.float64)}

    def log_predict(self, theta, data):
        lk, c0, le = (theta[:, j, None] for j in range(3))
        e = np.exp(le)
        gap = data["l_sup"][None, :] - e  # the student's supervised loss above E: must be positive
        with np.errstate(divide="ignore", invalid="ignore"):
            t2 = lk - c0 * data["ln_t"] + np.log(gap)
        out, (_, p2) = _lse([np.broadcast_to(data["ln_t"], t2.shape), t2])
        return out, (p2, data["ln_t"], e / gap)

    def log_vjp(self, ctx, v):
        p2, ln_t, e_over_gap = ctx
        q = v * p2
        return np.stack([q.sum(1), -(q @ ln_t), -np.einsum("ij,ij->i", q, e_over_gap)], axis=1)


FRANTAR_SPARSITY = FrantarSparsity()
FRANTAR_SPARSITY_FIXED_D = FrantarSparsityFixedD()
FRANTAR_SPARSITY_DELTA = FrantarSparsityDelta()
KUMAR_PTQ = KumarPTQ()
KUMAR_PTQ_TIED = KumarPTQTied()
PTQ_BITS = PTQBits()
KUMAR_PTQ_EFFECTIVE = KumarPTQEffective()
DISTILL_TEACHER_FLOOR = DistillTeacherFloor()
BUSBRIDGE_DISTILL_REDUCED = BusbridgeDistillReduced()
COMPRESSION_LAWS = (FRANTAR_SPARSITY, FRANTAR_SPARSITY_FIXED_D, FRANTAR_SPARSITY_DELTA, KUMAR_PTQ, KUMAR_PTQ_TIED,
                    PTQ_BITS, KUMAR_PTQ_EFFECTIVE, DISTILL_TEACHER_FLOOR, BUSBRIDGE_DISTILL_REDUCED)
for _law in COMPRESSION_LAWS:
    register_law(_law, replace=True)


EXACT_FIT = 1e-18  # mean squared log residual below which a start is taken as the global minimum


@dataclass
class SimpleFit:
    """Least squares in log space: parameters, the log-residual RMS, and how many points it used."""

    law: str
    params: dict[str, float]
    rms_log: float
    n_points: int

    def to_dict(self) -> dict[str, Any]:
        return {"law": self.law, "params": self.params, "rms_log": self.rms_log, "n_points": self.n_points,
                "estimator": "least squares on log L, L-BFGS-B from every start-grid point"}


def fit_least_squares(law: Law, cols: Mapping[str, Any], y: Any, starts: np.ndarray | None = None) -> SimpleFit:
    """Minimise sum (log pred - log y)^2 from each start point (the law's grid by default); keep the best.

    A plain estimator (no Huber, no bootstrap) so compression fits do not wait on the fitting library; the
    laws are registered there too, so `scaling fit --law NAME` can fit them with its own estimators.
    """
    y = np.asarray(y, dtype=np.float64)
    if np.any(y <= 0):
        raise ValueError(f"law {law.name}: every observed value must be positive (log-space fit)")
    if y.size <= law.n_params:
        raise ValueError(f"law {law.name}: {y.size} points cannot fit {law.n_params} parameters")
    data = law.prepare({k: np.asarray(cols[k], dtype=np.float64) for k in law.inputs})
    ln_y = np.log(y)

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        f, ctx = law.log_predict(theta[None, :], data)
        r = f - ln_y[None, :]
        return float((r**2).sum()), law.log_vjp(ctx, 2.0 * r)[0]

    best = None
    for x0 in law.start_points() if starts is None else np.atleast_2d(starts):
        res = minimize(objective, x0, jac=True, method="L-BFGS-B", options={"maxiter": 1000, "gtol": 1e-10})
        if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
            best = res
        if best is not None and best.fun < EXACT_FIT * y.size:
            break  # the data lie on the law to rounding: no start can do better
    params = {k: float(v) for k, v in law.to_params(best.x).items()}
    return SimpleFit(law.name, params, float(np.sqrt(best.fun / y.size)), int(y.size))
