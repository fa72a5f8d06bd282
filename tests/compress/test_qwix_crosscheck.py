"""Cross-check our weight quantizer against qwix (Google's JAX quantization library) and a plain numpy one.

qwix 0.1.8's post-training quantization (`qwix.PtqProvider` + `qwix.quantize_model` on an NNX module) quantizes
each einsum's weight with one absmax scale per output channel, scale = absmax / (qmax + 0.5), codes rounded
half to even and clipped to the full signed range; `qwix.quantize` with `tiled_axes` does the group-wise case
and `calibration_method="minmax"` the asymmetric one (codes in [-128, 127], ours in [0, 255]: the same up to
an offset of 128). We adopted these conventions, so with float32 scales the codes, scales and dequantized
weights agree exactly, not merely within a bound. qwix is not a project dependency: these tests skip without
it (`pip install qwix`); the numpy cross-check below always runs.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from scaling.compress.quantize import dequantize, quantize

D, H, K, F = 32, 4, 8, 24


def _w(shape, seed):
    return np.random.default_rng(seed).standard_t(4, size=shape).astype(np.float32)


def _np_quantize(w_IxO, bits):
    """Independent reference: symmetric per-output-channel absmax quantization in float32 numpy."""
    qmax = 2 ** (bits - 1) - 1
    scale_1xO = (np.abs(w_IxO).max(0, keepdims=True) / np.float32(qmax + 0.5)).astype(np.float32)
    q = np.clip(np.round(w_IxO / scale_1xO), -qmax - 1, qmax)
    return q.astype(np.int8), scale_1xO


@pytest.mark.parametrize("bits", [8, 4, 3, 2])
def test_matches_an_independent_numpy_quantizer(bits):
    """Equal up to float rounding: XLA divides by the constant qmax + 0.5 as a multiply by its reciprocal, so a
    scale may differ from numpy's by an ulp, which can flip a code by one where w / scale sits on a .5 tie
    (typically the channel's absmax element, at exactly qmax + 0.5)."""
    w_DxF = _w((D, F), bits)
    q_ref, scale_ref = _np_quantize(w_DxF, bits)
    qt = quantize(jnp.asarray(w_DxF), bits, axis=0, scale_dtype=jnp.float32)
    np.testing.assert_allclose(np.asarray(qt.scale), scale_ref, rtol=2 * np.finfo(np.float32).eps)
    q, ref = np.asarray(qt.q, np.int32), q_ref.astype(np.int32)
    on_tie = np.abs(np.abs(w_DxF / scale_ref) % 1 - 0.5) < 1e-4
    assert (q == ref)[~on_tie].all()
    assert (np.abs(q - ref) <= 1).all() and (q != ref).mean() < 0.05


class _Layer(nnx.Module):
    """Three einsums with the weight layouts of a transformer: w_DxF, w_DxHxK (q/k/v) and w_HxKxD (o)."""

    def __init__(self) -> None:
        self.w_DxF = nnx.Param(jnp.asarray(_w((D, F), 1)), logical_axes=("embed", "mlp"))
        self.w_DxHxK = nnx.Param(jnp.asarray(_w((D, H, K), 2)), logical_axes=("embed", "heads", "head_dim"))
        self.w_HxKxD = nnx.Param(jnp.asarray(_w((H, K, D), 3)), logical_axes=("heads", "head_dim", "embed"))

    def __call__(self, x_BxD):
        h_BxF = jnp.einsum("bd,df->bf", x_BxD, self.w_DxF[...])
        q_BxHxK = jnp.einsum("bd,dhk->bhk", x_BxD, self.w_DxHxK[...])
        o_BxD = jnp.einsum("bhk,hkd->bd", q_BxHxK, self.w_HxKxD[...])
        return h_BxF.sum() + o_BxD.sum()


@pytest.mark.parametrize(("bits", "qtype"), [(8, "int8"), (4, "int4")])
def test_per_channel_ptq_agrees_with_qwix_exactly(bits, qtype):
    qwix = pytest.importorskip("qwix")
    model = _Layer()
    originals = {name: np.asarray(getattr(model, name)[...]) for name in ("w_DxF", "w_DxHxK", "w_HxKxD")}
    rules = [qwix.QuantizationRule(module_path=".*", weight_qtype=getattr(jnp, qtype))]
    ptq = qwix.quantize_model(model, qwix.PtqProvider(rules), jnp.ones((2, D)))
    in_axes = {"w_DxF": (0,), "w_DxHxK": (0,), "w_HxKxD": (0, 1)}
    for name, w in originals.items():
        theirs = getattr(ptq, name).array
        ours = quantize(jnp.asarray(w), bits, axis=in_axes[name], scale_dtype=jnp.float32)
        their_q = np.asarray(jnp.asarray(theirs.qvalue[...]).astype(jnp.int8))
        their_scale = np.asarray(theirs.scale[...])
        np.testing.assert_array_equal(np.asarray(ours.q), their_q, err_msg=name)
        np.testing.assert_array_equal(np.asarray(ours.scale).ravel(), their_scale.ravel(), err_msg=name)
        np.testing.assert_array_equal(
            np.asarray(dequantize(*ours, axis=in_axes[name])), np.asarray(qwix.dequantize(theirs)), err_msg=name
        )
        # qwix's is a real quantization, not a pass-through: within half a step, and not exact
        err = np.abs(np.asarray(qwix.dequantize(theirs)) - w)
        assert 0 < err.max() <= their_scale.max() / 2 * (1 + 1e-5)


def test_groupwise_int4_agrees_with_qwix_tiled_quantization():
    qwix = pytest.importorskip("qwix")
    w_DxF = jnp.asarray(_w((D, F), 4))
    theirs = qwix.quantize(w_DxF, jnp.int4, channelwise_axes=[1], tiled_axes={0: 8})
    ours = quantize(w_DxF, 4, axis=0, group_size=8, scale_dtype=jnp.float32)
    assert ours.scale.shape == theirs.scale.shape == (D // 8, F)
    np.testing.assert_array_equal(np.asarray(ours.q), np.asarray(theirs.qvalue.astype(jnp.int8)))
    np.testing.assert_array_equal(np.asarray(ours.scale), np.asarray(theirs.scale))
    np.testing.assert_array_equal(np.asarray(dequantize(*ours)), np.asarray(qwix.dequantize(theirs)))


def test_asymmetric_int8_agrees_with_qwix_minmax_up_to_the_code_offset():
    """Same scales and zero points; codes equal (ours 128 higher) except on exact .5 ties, where qwix adds its
    signed zero point (zero - 128) before rounding and float32 rounding of that sum can tip the tie."""
    qwix = pytest.importorskip("qwix")
    w_DxF = jnp.asarray(_w((D, F), 5) + 0.7)  # skewed, so the zero point matters
    theirs = qwix.quantize(w_DxF, jnp.int8, channelwise_axes=[1], calibration_method="minmax")
    ours = quantize(w_DxF, 8, axis=0, symmetric=False, scale_dtype=jnp.float32)
    np.testing.assert_array_equal(np.asarray(ours.scale), np.asarray(theirs.scale))
    np.testing.assert_array_equal(np.asarray(ours.zero, np.int32) - 128, np.asarray(theirs.zero_point, np.int32))
    q, their_q = np.asarray(ours.q, np.int32) - 128, np.asarray(theirs.qvalue, np.int32)
    x = np.asarray(w_DxF) / np.asarray(ours.scale) + np.asarray(ours.zero, np.float32)
    on_tie = np.abs(x % 1 - 0.5) < 1e-4
    assert (q == their_q)[~on_tie].all() and (np.abs(q - their_q) <= 1).all() and (q != their_q).mean() < 0.05
    step = np.asarray(ours.scale)
    for dq in (dequantize(*ours), qwix.dequantize(theirs)):
        w = np.asarray(w_DxF)
        assert (np.abs(np.asarray(dq) - w) <= step / 2 + 4 * np.finfo(np.float32).eps * np.abs(w)).all()
