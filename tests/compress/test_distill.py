"""Distillation loss against a direct numpy computation, a finite-difference gradient, and its edge cases."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scaling.compress import distill

distillation_loss = jax.jit(distill.distillation_loss, static_argnums=(3, 4))  # one compile per setting


def _log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def _reference(student, teacher, targets, T, alpha, mask=None):
    """The loss written out in float64 numpy."""
    log_ps, log_pt = _log_softmax(student / T), _log_softmax(teacher / T)
    kl = (np.exp(log_pt) * (log_pt - log_ps)).sum(-1)
    ce = -np.take_along_axis(_log_softmax(student), targets[..., None], -1)[..., 0]
    w = np.ones_like(kl) if mask is None else mask.astype(np.float64)
    return alpha * T**2 * (kl * w).sum() / w.sum() + (1 - alpha) * (ce * w).sum() / w.sum()


def _case(seed=0, B=2, L=3, V=7):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(B, L, V)) * 2, rng.normal(size=(B, L, V)) * 2, rng.integers(0, V, (B, L))


@pytest.mark.parametrize(("T", "alpha"), [(1.0, 0.5), (2.0, 0.9), (4.0, 0.0), (0.5, 1.0)])
def test_matches_numpy(T, alpha):
    s, t, y = _case()
    got = distillation_loss(jnp.asarray(s, jnp.float32), jnp.asarray(t, jnp.float32), jnp.asarray(y), T, alpha)
    assert float(got) == pytest.approx(_reference(s, t, y, T, alpha), rel=1e-5)


def test_mask_averages_over_kept_tokens_only():
    s, t, y = _case(1)
    mask = np.array([[1, 1, 0], [0, 1, 1]], bool)
    got = distillation_loss(jnp.asarray(s, jnp.float32), jnp.asarray(t, jnp.float32), jnp.asarray(y), 2.0, 0.5,
                            mask_BxL=jnp.asarray(mask))
    assert float(got) == pytest.approx(_reference(s, t, y, 2.0, 0.5, mask), rel=1e-5)
    s2 = s.copy()
    s2[0, 2] += 100.0  # a masked-out token changes nothing
    got2 = distillation_loss(jnp.asarray(s2, jnp.float32), jnp.asarray(t, jnp.float32), jnp.asarray(y), 2.0, 0.5,
                             mask_BxL=jnp.asarray(mask))
    assert float(got2) == pytest.approx(float(got), rel=1e-6)


def test_kl_term_vanishes_when_student_equals_teacher():
    s, _, y = _case(2)
    s32 = jnp.asarray(s, jnp.float32)
    assert float(distillation_loss(s32, s32, jnp.asarray(y), 3.0, 1.0)) == pytest.approx(0.0, abs=1e-6)
    ce_only = distillation_loss(s32, s32, jnp.asarray(y), 3.0, 0.25)
    assert float(ce_only) == pytest.approx(0.75 * _reference(s, s, y, 1.0, 0.0), rel=1e-5)
    # and it is positive otherwise
    assert float(distillation_loss(s32, s32 + jnp.arange(7.0), jnp.asarray(y), 3.0, 1.0)) > 1e-3


def test_gradient_matches_finite_differences_and_teacher_gets_none():
    s, t, y = _case(3, B=1, L=2, V=5)
    s32, t32, y = jnp.asarray(s, jnp.float32), jnp.asarray(t, jnp.float32), jnp.asarray(y)
    loss = lambda a, b: distillation_loss(a, b, y, 2.0, 0.7)  # noqa: E731
    g_s, g_t = jax.jit(jax.grad(loss, argnums=(0, 1)))(s32, t32)
    assert float(jnp.abs(g_t).max()) == 0.0
    h = 1e-4
    fd = np.zeros_like(s)
    for idx in np.ndindex(s.shape):
        up, down = s.copy(), s.copy()
        up[idx] += h
        down[idx] -= h
        fd[idx] = (_reference(up, t, np.asarray(y), 2.0, 0.7) - _reference(down, t, np.asarray(y), 2.0, 0.7)) / (2 * h)
    np.testing.assert_allclose(np.asarray(g_s), fd, rtol=1e-3, atol=1e-5)


def test_bad_arguments_are_refused():
    s, t, y = _case()
    with pytest.raises(ValueError, match="temperature"):
        distill.distillation_loss(jnp.asarray(s), jnp.asarray(t), jnp.asarray(y), 0.0, 0.5)
    with pytest.raises(ValueError, match="alpha"):
        distill.distillation_loss(jnp.asarray(s), jnp.asarray(t), jnp.asarray(y), 1.0, 1.5)
