"""The transformer's parts (Flax NNX): RMSNorm, rotary embeddings, causal attention and the MLP.

Tensor names carry their shapes so each einsum can be checked by eye: B batch, L sequence, D model width,
H heads, K head dim, F MLP width, V vocabulary. Every parameter is an `nnx.Param` with `logical_axes`
metadata (one name per dimension) that the trainer maps onto a device mesh with one rules table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from scaling.models.attention import causal_attention


def param(rngs: nnx.Rngs, shape: tuple[int, ...], std: float, axes: tuple[str, ...], dtype: Any) -> nnx.Param:
    """A normal(0, std) parameter named by its logical axes (std 0 gives zeros, e.g. a zero-init readout)."""
    value = std * jax.random.normal(rngs.params(), shape, dtype) if std > 0 else jnp.zeros(shape, dtype)
    return nnx.Param(value, logical_axes=axes)


@jax.custom_vjp
def dense(x_NxD: jax.Array, w_DxF: jax.Array) -> jax.Array:
    """x_NxD @ w_DxF with a hand-written backward whose dots XLA:CPU runs without transposing activations.

    Autodiff's weight gradient contracts x_NxD with g_NxF over N; XLA:CPU then materialises g transposed
    (F x N, fused into the activation's backward) and that copy cost more than the matmuls. Computing
    dw as (g^T x)^T moves the transpose onto the small F x D result: the same numbers, ~3x faster MLPs here.
    """
    return x_NxD @ w_DxF


def _dense_fwd(x_NxD: jax.Array, w_DxF: jax.Array) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    return x_NxD @ w_DxF, (x_NxD, w_DxF)


def _dense_bwd(res: tuple[jax.Array, jax.Array], g_NxF: jax.Array) -> tuple[jax.Array, jax.Array]:
    x_NxD, w_DxF = res
    dx_NxD = jax.lax.dot_general(g_NxF, w_DxF, (((1,), (1,)), ((), ())))
    dw_FxD = jax.lax.dot_general(g_NxF, x_NxD, (((0,), (0,)), ((), ())))
    return dx_NxD.astype(x_NxD.dtype), dw_FxD.T.astype(w_DxF.dtype)


dense.defvjp(_dense_fwd, _dense_bwd)


# A dense layer's optional input hook, x_NxD -> x_NxD (static: it lives in the graphdef, so None costs nothing).
# Compression sets one to measure quantized-activation inference (scaling.compress.activation_quant); the model
# itself knows no compression method.
InputTransform = Callable[[jax.Array], jax.Array]


def matmul_input(x_NxD: jax.Array, transform: InputTransform | None) -> jax.Array:
    """A dense layer's input as the matmul reads it: unchanged, or through `transform` (see
    `ModelState.with_input_transform`)."""
    return x_NxD if transform is None else transform(x_NxD)


class RMSNorm(nnx.Module):
    """Root-mean-square norm with a learned scale, computed in float32 for stability at any compute dtype."""

    def __init__(self, d_model: int, eps: float, *, param_dtype: Any) -> None:
        self.scale_D = nnx.Param(jnp.ones((d_model,), param_dtype), logical_axes=("norm",))
        self.eps = eps

    def __call__(self, x_BxLxD: jax.Array) -> jax.Array:
        x32_BxLxD = x_BxLxD.astype(jnp.float32)
        inv_BxLx1 = jax.lax.rsqrt(jnp.mean(jnp.square(x32_BxLxD), axis=-1, keepdims=True) + self.eps)
        return (x32_BxLxD * inv_BxLx1 * self.scale_D[...].astype(jnp.float32)).astype(x_BxLxD.dtype)


def rotary_tables(seq_len: int, head_dim: int, theta: float) -> tuple[np.ndarray, np.ndarray]:
    """cos/sin tables of shape (L, K/2) for rotary embeddings, built in numpy so XLA sees constants."""
    inv_freq_K2 = 1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    angles_LxK2 = np.arange(seq_len, dtype=np.float64)[:, None] * inv_freq_K2[None, :]
    return np.cos(angles_LxK2).astype(np.float32), np.sin(angles_LxK2).astype(np.float32)


def apply_rotary(x_BxLxHxK: jax.Array, cos_LxK2: np.ndarray, sin_LxK2: np.ndarray) -> jax.Array:
    """Rotate the two halves of each head's vector by position-dependent angles (the GPT-NeoX layout)."""
    half = x_BxLxHxK.shape[-1] // 2
    x1_BxLxHxK2, x2_BxLxHxK2 = x_BxLxHxK[..., :half], x_BxLxHxK[..., half:]
    cos_1xLx1xK2 = jnp.asarray(cos_LxK2, x_BxLxHxK.dtype)[None, :, None, :]
    sin_1xLx1xK2 = jnp.asarray(sin_LxK2, x_BxLxHxK.dtype)[None, :, None, :]
    return jnp.concatenate(
        [x1_BxLxHxK2 * cos_1xLx1xK2 - x2_BxLxHxK2 * sin_1xLx1xK2,
         x2_BxLxHxK2 * cos_1xLx1xK2 + x1_BxLxHxK2 * sin_1xLx1xK2],
        axis=-1,
    )


class CausalAttention(nnx.Module):
    """Multi-head causal self-attention with rotary positions and one fused Q/K/V projection."""

    def __init__(
        self, d_model: int, n_heads: int, *, std: float, out_std: float, scale: float, rope_theta: float,
        rngs: nnx.Rngs, param_dtype: Any, compute_dtype: Any,
    ) -> None:
        head_dim = d_model // n_heads
        # Q, K and V side by side along the last axis: one matmul, and a `heads` shard keeps its own Q, K, V.
        self.w_qkv_DxHx3K = param(rngs, (d_model, n_heads, 3 * head_dim), std, ("embed", "heads", "head_dim"),
                                  param_dtype)
        self.w_out_HxKxD = param(rngs, (n_heads, head_dim, d_model), out_std, ("heads", "head_dim", "embed"),
                                 param_dtype)
        self.scale = scale
        self.rope_theta = rope_theta
        self.compute_dtype = compute_dtype
        self.input_transform: InputTransform | None = None

    def __call__(self, x_BxLxD: jax.Array) -> jax.Array:
        dt = self.compute_dtype
        B, L, D = x_BxLxD.shape
        w_DxHx3K = self.w_qkv_DxHx3K[...].astype(dt)
        x_NxD = matmul_input(x_BxLxD.reshape(B * L, D), self.input_transform)
        qkv_BxLxHx3K = dense(x_NxD, w_DxHx3K.reshape(D, -1)).reshape(B, L, *w_DxHx3K.shape[1:])
        q_BxLxHxK, k_BxLxHxK, v_BxLxHxK = jnp.split(qkv_BxLxHx3K, 3, axis=-1)
        K = q_BxLxHxK.shape[-1]
        cos_LxK2, sin_LxK2 = rotary_tables(L, K, self.rope_theta)
        q_BxLxHxK = apply_rotary(q_BxLxHxK * jnp.asarray(self.scale, dt), cos_LxK2, sin_LxK2)
        k_BxLxHxK = apply_rotary(k_BxLxHxK, cos_LxK2, sin_LxK2)

        out_BxLxHxK = causal_attention(q_BxLxHxK, k_BxLxHxK, v_BxLxHxK)
        out_NxD = matmul_input(out_BxLxHxK.reshape(B * L, D), self.input_transform)
        return dense(out_NxD, self.w_out_HxKxD[...].astype(dt).reshape(D, D)).reshape(B, L, D)


class MLP(nnx.Module):
    """Position-wise feed-forward: GELU (two matrices) or SwiGLU (three)."""

    def __init__(
        self, d_model: int, d_ff: int, kind: str, *, std: float, out_std: float, rngs: nnx.Rngs,
        param_dtype: Any, compute_dtype: Any,
    ) -> None:
        self.kind = kind
        self.w_in_DxF = param(rngs, (d_model, d_ff), std, ("embed", "mlp"), param_dtype)
        if kind == "swiglu":
            self.w_gate_DxF = param(rngs, (d_model, d_ff), std, ("embed", "mlp"), param_dtype)
        self.w_out_FxD = param(rngs, (d_ff, d_model), out_std, ("mlp", "embed"), param_dtype)
        self.compute_dtype = compute_dtype
        self.input_transform: InputTransform | None = None

    def __call__(self, x_BxLxD: jax.Array) -> jax.Array:
        dt = self.compute_dtype
        B, L, D = x_BxLxD.shape
        x_NxD = matmul_input(x_BxLxD.reshape(B * L, D), self.input_transform)
        h_NxF = dense(x_NxD, self.w_in_DxF[...].astype(dt))
        if self.kind == "swiglu":
            h_NxF = jax.nn.silu(dense(x_NxD, self.w_gate_DxF[...].astype(dt))) * h_NxF
        else:
            h_NxF = jax.nn.gelu(h_NxF)
        return dense(matmul_input(h_NxF, self.input_transform), self.w_out_FxD[...].astype(dt)).reshape(B, L, D)
