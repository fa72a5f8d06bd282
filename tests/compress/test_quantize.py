"""Weight fake-quantization: the error bound per element, code ranges, scale layouts, QAT and activation STE."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scaling.compress.activation_quant import quantize_activations
from scaling.compress.params import leaves
from scaling.compress.quantize import (
    dequantize,
    element_scale,
    fake_quantize_params,
    qat_params,
    quantize,
)
from scaling.compress.settings import QuantizeSettings, WeightQuant

BITS = [2, 3, 4, 8]
EPS = float(np.finfo(np.float32).eps)


def _within_half_step(w, dq, step):
    """|w - dq| <= step / 2, up to float32 rounding of the product q * scale (a few ulps of |w|)."""
    w = np.asarray(w)
    return (np.abs(w - np.asarray(dq)) <= np.asarray(step) / 2 + 4 * EPS * np.abs(w)).all()


def _weights(shape, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.standard_t(3, size=shape).astype(np.float32)  # heavy tails, so absmax differs per channel
    w[..., 0] = 0.0  # an all-zero output channel (as after pruning) must not divide by zero
    return jnp.asarray(w)


@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize("group_size", [None, 8])
@pytest.mark.parametrize("symmetric", [True, False])
def test_dequantized_weights_are_within_half_a_step(bits, group_size, symmetric, scale_dtype=jnp.float16):
    w_DxF = _weights((32, 12))
    qt = quantize(w_DxF, bits, axis=0, group_size=group_size, symmetric=symmetric, scale_dtype=scale_dtype)
    n_groups = 1 if group_size is None else 32 // group_size
    assert qt.q.shape == (32, 12) and qt.scale.shape == (n_groups, 12) and qt.scale.dtype == scale_dtype
    q = np.asarray(qt.q, np.int32)
    if symmetric:
        assert qt.zero is None and q.min() >= -(2 ** (bits - 1)) and q.max() <= 2 ** (bits - 1) - 1
    else:
        assert qt.zero.shape == qt.scale.shape and q.min() >= 0 and q.max() <= 2**bits - 1
    dq = np.asarray(dequantize(*qt, axis=0))
    step = np.asarray(element_scale(qt, axis=0))
    assert _within_half_step(w_DxF, dq, step)
    assert (dq[:, 0] == 0).all()  # the zero channel comes back exactly
    # the bound is tight enough to mean something: the step is about range / levels
    levels = 2**bits - 1
    span = np.ptp(np.asarray(w_DxF)[:, 1]) if not symmetric else 2 * np.abs(np.asarray(w_DxF)[:, 1]).max()
    if group_size is None:
        assert step[0, 1] <= span / (levels - 1) * 1.01


def test_symmetric_codes_use_all_levels_like_qwix():
    w = jnp.array([[-1.0], [-0.5], [0.0], [0.34], [1.0]])
    qt = quantize(w, 2, axis=0, scale_dtype=jnp.float32)
    assert float(qt.scale[0, 0]) == pytest.approx(1.0 / 1.5)
    np.testing.assert_array_equal(np.asarray(qt.q)[:, 0], [-2, -1, 0, 1, 1])  # -1.5 and 1.5 round (half even)
    qt8 = quantize(w, 8, axis=0, scale_dtype=jnp.float32)
    assert float(qt8.scale[0, 0]) == pytest.approx(1.0 / 127.5)


def test_float16_scales_are_rounded_up_not_down():
    w = jnp.asarray(np.random.default_rng(1).normal(size=(64, 40)).astype(np.float32))
    s32 = quantize(w, 4, scale_dtype=jnp.float32).scale
    s16 = quantize(w, 4, scale_dtype=jnp.float16).scale
    assert (np.asarray(s16, np.float32) >= np.asarray(s32)).all()
    assert (np.asarray(s16, np.float32) <= np.asarray(s32) * (1 + 2**-10)).all()


def test_group_scales_follow_the_input_axis_and_multi_axis_inputs_merge():
    w_HxKxD = _weights((4, 8, 6), seed=2)
    qt = quantize(w_HxKxD, 4, axis=(0, 1), group_size=16)
    assert qt.q.shape == (4, 8, 6) and qt.scale.shape == (2, 6)
    absmax_GxD = np.abs(np.asarray(w_HxKxD).reshape(2, 16, 6)).max(1)
    np.testing.assert_allclose(np.asarray(qt.scale, np.float32)[:, 1:], absmax_GxD[:, 1:] / 7.5, rtol=2**-10)
    assert (np.asarray(qt.scale)[:, 0] > 0).all()  # an all-zero channel gets the smallest normal scale, not 0
    assert _within_half_step(w_HxKxD, dequantize(*qt, axis=(0, 1)), element_scale(qt, axis=(0, 1)))
    with pytest.raises(ValueError, match="does not divide"):
        quantize(w_HxKxD, 4, axis=(0, 1), group_size=5)
    with pytest.raises(ValueError, match="contiguous"):
        quantize(w_HxKxD, 4, axis=(0, 2))


@pytest.mark.parametrize("granularity,group_size", [("channel", None), ("group", 8)])
def test_fake_quantize_params_touches_matrices_only(toy_state, granularity, group_size):
    fq = fake_quantize_params(toy_state, WeightQuant(4, granularity, group_size))
    before = {lf.name: lf for lf in leaves(toy_state)}
    for lf in leaves(fq):
        old = before[lf.name]
        assert lf.axes == old.axes and lf.value.dtype == old.value.dtype
        if old.is_matrix():
            assert not np.array_equal(lf.value, old.value)
            in_axes = old.roles()[0]
            qt = quantize(old.value, 4, axis=in_axes, group_size=group_size)
            np.testing.assert_array_equal(lf.value, dequantize(*qt, axis=in_axes))
            # per output channel: at most 16 distinct values along the input axes of any one channel
            if granularity == "channel":
                w_RxI = np.moveaxis(np.asarray(lf.value), in_axes, range(-len(in_axes), 0))
                w_RxI = w_RxI.reshape(-1, int(np.prod([old.value.shape[a] for a in in_axes])))
                assert max(len(np.unique(row)) for row in w_RxI) <= 16
        else:
            np.testing.assert_array_equal(lf.value, old.value)


def test_fake_quantize_includes_embedding_when_asked(toy_state):
    fq = fake_quantize_params(toy_state, WeightQuant(8, include_embedding=True))
    assert not np.array_equal(fq["embed_VxD"][...], toy_state["embed_VxD"][...])
    np.testing.assert_allclose(fq["embed_VxD"][...], toy_state["embed_VxD"][...], atol=0.05)


def test_granularity_arguments_are_checked(toy_state):
    with pytest.raises(ValueError, match="needs a group_size"):
        WeightQuant(4, "group")
    with pytest.raises(ValueError, match="takes no group_size"):
        WeightQuant(4, "channel", 8)
    with pytest.raises(ValueError, match="bits"):
        WeightQuant(1)
    with pytest.raises(ValueError, match="granularity"):
        WeightQuant(4, "tensor")
    # the stage's settings at some bits are exactly the WeightQuant the ops take
    settings = QuantizeSettings(granularity="group", group_size=8, symmetric=False)
    assert settings.weights(3) == WeightQuant(3, "group", 8, symmetric=False)


def test_qat_forward_is_quantized_and_gradient_passes_straight_through(toy_dict):
    params, axes = toy_dict
    x = jax.random.normal(jax.random.key(3), (5, 16))

    def loss(p):
        w = p["blocks"][0]["mlp"]["w_in_DxF"]
        return jnp.sum(jnp.tanh(x @ w)) + jnp.sum(p["final_norm"] ** 2)

    fq = fake_quantize_params(params, WeightQuant(4), logical_axes=axes)
    value, grads = jax.jit(jax.value_and_grad(lambda p: loss(qat_params(p, WeightQuant(4), logical_axes=axes))))(params)
    want_value, want_grads = jax.value_and_grad(loss)(fq)
    assert value == pytest.approx(float(want_value), rel=1e-6)
    for g, want in zip(jax.tree.leaves(grads), jax.tree.leaves(want_grads), strict=True):
        np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-6)
    assert np.abs(grads["blocks"][0]["mlp"]["w_in_DxF"]).sum() > 0


def test_activation_fake_quant_is_per_token_with_identity_gradient():
    x_BxLxD = jax.random.normal(jax.random.key(0), (2, 3, 64)) * jnp.arange(1, 4)[None, :, None]
    y = jax.jit(quantize_activations)(x_BxLxD)
    scale_BxLx1 = np.abs(np.asarray(x_BxLxD)).max(-1, keepdims=True) / 127  # LLM.int8 convention: absmax -> 127
    assert (np.abs(np.asarray(y - x_BxLxD)) <= scale_BxLx1 / 2 * (1 + 1e-5)).all()
    np.testing.assert_allclose(np.asarray(y) / scale_BxLx1, np.round(np.asarray(y) / scale_BxLx1), atol=1e-3)
    c = jax.random.normal(jax.random.key(1), x_BxLxD.shape)
    g = jax.jit(jax.grad(lambda x: jnp.sum(quantize_activations(x) * c)))(x_BxLxD)
    np.testing.assert_array_equal(g, c)
