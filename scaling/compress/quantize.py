"""Weight-only fake quantization (int2..int8, symmetric or asymmetric, per output channel or per group along the
input axis) and quantization-aware training with a straight-through estimator. Which weights and how is one
`WeightQuant` (scaling.compress.settings); activation fake-quant is `scaling.compress.activation_quant`, which the
model applies at every matmul input through its generic input hook.

Conventions (the same as qwix's, so the two agree bit for bit; see tests/compress/test_qwix_crosscheck.py):
symmetric scale = absmax / (2^(b-1) - 0.5) and q = clip(round(w / scale), -2^(b-1), 2^(b-1) - 1), which uses all
2^b levels (for int2 that is {-2, -1, 0, 1}, not ternary); asymmetric scale = (max - min) / (2^b - 1) over a
range that includes 0, zero point = round(-min / scale), q = clip(round(w / scale + zero), 0, 2^b - 1).
Rounding is half to even. Either way |w - dequantize(q)| <= scale / 2 for every element.
Scales are stored as float16 by default (what `pack` writes): the f32 scale is rounded *up* to the next float16,
so no weight leaves the representable range and the bound above holds for the stored scale exactly.
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from scaling.compress.params import Leaf, map_leaves
from scaling.compress.settings import WeightQuant


class Quantized(NamedTuple):
    """Integer codes (same shape as the weight) with their scales and, when asymmetric, zero points.

    The input axes are merged into one (at the first input axis's place); `scale` and `zero` have that merged
    shape with the input dimension replaced by the number of groups (1 per output channel when per-channel).
    """

    q: jax.Array
    scale: jax.Array
    zero: jax.Array | None = None


def _input_axes(axis: int | tuple[int, ...], ndim: int) -> tuple[int, ...]:
    axes = tuple(sorted(a % ndim for a in ((axis,) if isinstance(axis, int) else axis)))
    if axes != tuple(range(axes[0], axes[0] + len(axes))):
        raise ValueError(f"input axes {axis} must be contiguous to quantize along them")
    return axes


def _merged_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    a = axes[0]
    return shape[:a] + (math.prod(shape[i] for i in axes),) + shape[axes[-1] + 1 :]


def _round_up_to(s: jax.Array, dtype: Any) -> jax.Array:
    """`s` in `dtype`, never below `s` (and at least the smallest normal), so |w / scale| stays in range."""
    s = jnp.maximum(s, jnp.finfo(dtype).tiny)
    c = s.astype(dtype)
    return jnp.where(c.astype(s.dtype) < s, jnp.nextafter(c, jnp.array(jnp.inf, dtype)), c)


@functools.partial(jax.jit, static_argnames=("bits", "axis", "group_size", "symmetric", "scale_dtype"))
def quantize(
    w: Any,
    bits: int,
    *,
    axis: int | tuple[int, ...] = 0,
    group_size: int | None = None,
    symmetric: bool = True,
    scale_dtype: Any = jnp.float16,
) -> Quantized:
    """Quantize `w` to `bits`-bit integers with one scale per output channel (or per `group_size` inputs).

    `axis` is the input (contraction) axis, or contiguous axes, that a scale spans; every other index is its
    own channel. For w_DxF that is axis=0: per-channel scales are 1xF, group-wise (D/g)xF. Jitted once per
    shape and setting (everything but `w` is static).
    """
    if not 2 <= bits <= 8:
        raise ValueError(f"bits must be between 2 and 8, got {bits}")
    w = jnp.asarray(w, jnp.float32)
    axes = _input_axes(axis, w.ndim)
    a, merged = axes[0], _merged_shape(w.shape, axes)
    n_in = merged[a]
    g = n_in if group_size is None else group_size
    if g <= 0 or n_in % g:
        raise ValueError(f"group size {group_size} does not divide the input size {n_in} of a {w.shape} weight")
    w_g = w.reshape(merged[:a] + (n_in // g, g) + merged[a + 1 :])
    if symmetric:
        absmax = jnp.max(jnp.abs(w_g), axis=a + 1, keepdims=True)
        scale = _round_up_to(absmax / (2 ** (bits - 1) - 0.5), scale_dtype)
        q = jnp.clip(jnp.round(w_g / scale.astype(jnp.float32)), -(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
        q, zero = q.astype(jnp.int8), None
    else:
        levels = 2**bits - 1
        lo = jnp.minimum(jnp.min(w_g, axis=a + 1, keepdims=True), 0.0)
        hi = jnp.maximum(jnp.max(w_g, axis=a + 1, keepdims=True), 0.0)
        scale = _round_up_to((hi - lo) / levels, scale_dtype)
        s32 = scale.astype(jnp.float32)
        zero = jnp.clip(jnp.round(-lo / s32), 0, levels)
        q = jnp.clip(jnp.round(w_g / s32 + zero), 0, levels).astype(jnp.uint8)
        zero = zero.astype(jnp.uint8).squeeze(a + 1)
    return Quantized(q.reshape(w.shape), scale.squeeze(a + 1), zero)


def element_scale(quantized: Quantized, *, axis: int | tuple[int, ...] = 0) -> jax.Array:
    """The scale that applies to each element, in the weight's shape (for error bounds and inspection)."""
    return _per_element(quantized.scale, quantized.q.shape, axis).astype(jnp.float32)


def _per_element(x: jax.Array, shape: tuple[int, ...], axis: int | tuple[int, ...]) -> jax.Array:
    axes = _input_axes(axis, len(shape))
    a, merged = axes[0], _merged_shape(tuple(shape), axes)
    return jnp.repeat(x, merged[a] // x.shape[a], axis=a).reshape(shape)


@functools.partial(jax.jit, static_argnames=("axis",))
def dequantize(
    q: jax.Array, scale: jax.Array, zero: jax.Array | None = None, *, axis: int | tuple[int, ...] = 0
) -> jax.Array:
    """Float32 weights back from codes: (q - zero) * scale, scales repeated over their group."""
    x = q.astype(jnp.float32)
    if zero is not None:
        x = x - _per_element(zero, q.shape, axis).astype(jnp.float32)
    return x * _per_element(scale, q.shape, axis).astype(jnp.float32)


def leaf_axis(leaf: Leaf) -> tuple[int, ...]:
    """The input axes a parameter's scales span (from its logical axes)."""
    return leaf.roles()[0]


def fake_quantize_params(params: Any, quant: WeightQuant, *, logical_axes: Any = None,
                         scale_dtype: Any = jnp.float16) -> Any:
    """`params` with every quantizable matrix replaced by dequantize(quantize(w)), in its own dtype."""

    def fq(leaf: Leaf) -> Any:
        if not leaf.is_matrix(quant.include_embedding):
            return leaf.value
        ax = leaf_axis(leaf)
        qt = quantize(leaf.value, quant.bits, axis=ax, group_size=quant.group_size, symmetric=quant.symmetric,
                      scale_dtype=scale_dtype)
        return dequantize(*qt, axis=ax).astype(leaf.value.dtype)

    return map_leaves(fq, params, logical_axes)


def qat_params(params: Any, quant: WeightQuant, *, logical_axes: Any = None) -> Any:
    """Fake-quantized params whose gradient passes straight through (w + stop_gradient(fq(w) - w)), for QAT.

    Call it inside the loss: `loss(qat_params(p, WeightQuant(4)), batch)`; the forward pass sees quantized
    weights and the optimizer updates the float ones.
    """
    fq = fake_quantize_params(jax.lax.stop_gradient(params), quant, logical_axes=logical_axes)
    return jax.tree.map(lambda w, w_q: w + jax.lax.stop_gradient(w_q - w), params, fq)
