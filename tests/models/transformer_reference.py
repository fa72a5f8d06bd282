"""A deliberately plain re-implementation of the transformer's math on a pure parameter dict (autodiff only).

The model uses hand-written backward passes and a blocked attention kernel for speed; tests compare it with
this version, which is written the textbook way: einsums, a masked softmax over the full L x L scores.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from scaling.config import ModelConfig


def rms_norm(x_BxLxD: jax.Array, scale_D: jax.Array, eps: float) -> jax.Array:
    return x_BxLxD * jax.lax.rsqrt(jnp.mean(x_BxLxD**2, axis=-1, keepdims=True) + eps) * scale_D


def rotary(x_BxLxHxK: jax.Array, theta: float) -> jax.Array:
    L, K = x_BxLxHxK.shape[1], x_BxLxHxK.shape[3]
    freq_K2 = theta ** (-np.arange(0, K, 2) / K)
    angle_LxK2 = np.arange(L)[:, None] * freq_K2[None, :]
    cos, sin = np.cos(angle_LxK2)[None, :, None, :], np.sin(angle_LxK2)[None, :, None, :]
    x1, x2 = x_BxLxHxK[..., : K // 2], x_BxLxHxK[..., K // 2 :]
    return jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)


def per_token_quant(x: jax.Array, bits: int | None, n_axes: int = 1) -> jax.Array:
    """x rounded to `bits`-bit integers times one scale per token (absmax over the last `n_axes` axes / (2^(b-1) -
    1)): the definition of symmetric dynamic activation quantization, written out; None leaves x as it is."""
    if bits is None:
        return x
    axes = tuple(range(x.ndim - n_axes, x.ndim))
    top = 2 ** (bits - 1) - 1
    scale = jnp.max(jnp.abs(x), axis=axes, keepdims=True) / top
    return jnp.clip(jnp.round(x / scale), -top, top) * scale


def forward(cfg: ModelConfig, params: dict[str, Any], tokens_BxL: jax.Array, act_bits: int | None = None) -> jax.Array:
    """logits_BxLxV for `params` (the model's `nnx.to_pure_dict` layout); with `act_bits`, every matmul with a
    weight reads its input quantized per token."""
    fq = lambda x, n_axes=1: per_token_quant(x, act_bits, n_axes)  # noqa: E731
    mup = cfg.parameterization == "mup"
    K = cfg.head_dim
    attn_scale = 1.0 / K if mup else 1.0 / math.sqrt(K)
    x_BxLxD = params["embed_VxD"][tokens_BxL]
    L = tokens_BxL.shape[1]
    causal_LxL = np.tril(np.ones((L, L), dtype=bool))
    for i in range(cfg.n_layers):
        p = params["blocks"][i]
        h_BxLxD = fq(rms_norm(x_BxLxD, p["attn_norm"]["scale_D"], cfg.norm_eps))
        w_DxHx3K = p["attn"]["w_qkv_DxHx3K"]
        q_BxLxHxK = jnp.einsum("BLD,DHK->BLHK", h_BxLxD, w_DxHx3K[..., :K])
        k_BxLxHxK = jnp.einsum("BLD,DHK->BLHK", h_BxLxD, w_DxHx3K[..., K : 2 * K])
        v_BxLxHxK = jnp.einsum("BLD,DHK->BLHK", h_BxLxD, w_DxHx3K[..., 2 * K :])
        q_BxLxHxK, k_BxLxHxK = rotary(q_BxLxHxK, cfg.rope_theta), rotary(k_BxLxHxK, cfg.rope_theta)
        s_BxHxLxL = jnp.einsum("BLHK,BMHK->BHLM", q_BxLxHxK, k_BxLxHxK) * attn_scale
        s_BxHxLxL = jnp.where(causal_LxL, s_BxHxLxL, -jnp.inf)
        o_BxLxHxK = jnp.einsum("BHLM,BMHK->BLHK", jax.nn.softmax(s_BxHxLxL, axis=-1), v_BxLxHxK)
        x_BxLxD = x_BxLxD + jnp.einsum("BLHK,HKD->BLD", fq(o_BxLxHxK, 2), p["attn"]["w_out_HxKxD"])
        h_BxLxD = fq(rms_norm(x_BxLxD, p["mlp_norm"]["scale_D"], cfg.norm_eps))
        m = p["mlp"]
        a_BxLxF = jnp.einsum("BLD,DF->BLF", h_BxLxD, m["w_in_DxF"])
        if cfg.mlp == "swiglu":
            a_BxLxF = jax.nn.silu(jnp.einsum("BLD,DF->BLF", h_BxLxD, m["w_gate_DxF"])) * a_BxLxF
        else:
            a_BxLxF = jax.nn.gelu(a_BxLxF)
        x_BxLxD = x_BxLxD + jnp.einsum("BLF,FD->BLD", fq(a_BxLxF), m["w_out_FxD"])
    x_BxLxD = fq(rms_norm(x_BxLxD, params["final_norm"]["scale_D"], cfg.norm_eps))
    if cfg.tie_embeddings:
        logits_BxLxV = jnp.einsum("BLD,VD->BLV", x_BxLxD, params["embed_VxD"])
    else:
        logits_BxLxV = jnp.einsum("BLD,DV->BLV", x_BxLxD, params["lm_head_DxV"])
    return logits_BxLxV * (cfg.mup_base_width / cfg.d_model if mup else 1.0)


def loss(logits_BxLxV: jax.Array, targets_BxL: jax.Array) -> jax.Array:
    """Mean next-token cross-entropy, logsumexp form."""
    lse_BxL = jax.nn.logsumexp(logits_BxLxV, axis=-1)
    return (lse_BxL - jnp.take_along_axis(logits_BxLxV, targets_BxL[..., None], axis=-1)[..., 0]).mean()
