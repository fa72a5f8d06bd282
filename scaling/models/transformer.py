"""The `transformer` family: a decoder-only, pre-norm transformer in the style of nanodo (Flax NNX).

tokens_BxL -> embedding -> n_layers x [x + attn(norm(x)); x + mlp(norm(x))] -> norm -> logits_BxLxV (float32).
Rotary positions, RMSNorm, GELU or SwiGLU, tied or untied embeddings; init and scales from `mup.scales`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from scaling.config import ModelConfig
from scaling.models.layers import MLP, CausalAttention, RMSNorm, dense, param
from scaling.models.mup import scales


class Block(nnx.Module):
    """One pre-norm residual block: attention then MLP, each reading a normalised copy of the stream."""

    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs, param_dtype: Any, compute_dtype: Any) -> None:
        s = scales(cfg)
        self.attn_norm = RMSNorm(cfg.d_model, cfg.norm_eps, param_dtype=param_dtype)
        self.attn = CausalAttention(
            cfg.d_model, cfg.n_heads, std=s.hidden_std, out_std=s.out_std, scale=s.attention,
            rope_theta=cfg.rope_theta, rngs=rngs, param_dtype=param_dtype, compute_dtype=compute_dtype,
        )
        self.mlp_norm = RMSNorm(cfg.d_model, cfg.norm_eps, param_dtype=param_dtype)
        self.mlp = MLP(
            cfg.d_model, cfg.d_ff, cfg.mlp, std=s.hidden_std, out_std=s.out_std, rngs=rngs,
            param_dtype=param_dtype, compute_dtype=compute_dtype,
        )

    def __call__(self, x_BxLxD: jax.Array) -> jax.Array:
        x_BxLxD = x_BxLxD + self.attn(self.attn_norm(x_BxLxD))
        return x_BxLxD + self.mlp(self.mlp_norm(x_BxLxD))


class Transformer(nnx.Module):
    """Decoder-only LM: `model(tokens_BxL) -> logits_BxLxV` in float32."""

    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs, param_dtype: Any, compute_dtype: Any) -> None:
        s = scales(cfg)
        V, D = cfg.vocab_size, cfg.d_model
        self.embed_VxD = param(rngs, (V, D), s.embed_std, ("vocab", "embed"), param_dtype)
        self.blocks = nnx.List(
            [Block(cfg, rngs=rngs, param_dtype=param_dtype, compute_dtype=compute_dtype) for _ in range(cfg.n_layers)]
        )
        self.final_norm = RMSNorm(D, cfg.norm_eps, param_dtype=param_dtype)
        if not cfg.tie_embeddings:
            self.lm_head_DxV = param(rngs, (D, V), s.readout_std, ("embed", "vocab"), param_dtype)
        self.tie_embeddings = cfg.tie_embeddings
        self.logit_scale = s.logits
        self.compute_dtype = compute_dtype

    def __call__(self, tokens_BxL: jax.Array) -> jax.Array:
        return self.forward(tokens_BxL)[0]

    def activations(self, tokens_BxL: jax.Array) -> dict[str, jax.Array]:
        """The residual stream after the embedding and after each block, and the logits (for coordinate checks)."""
        return self.forward(tokens_BxL, collect=True)[1]

    def forward(self, tokens_BxL: jax.Array, *, collect: bool = False) -> tuple[jax.Array, dict[str, jax.Array]]:
        """Logits, and (when `collect`) the named intermediate activations."""
        dt = self.compute_dtype
        acts: dict[str, jax.Array] = {}
        embed_VxD = self.embed_VxD[...].astype(dt)
        x_BxLxD = jnp.take(embed_VxD, tokens_BxL, axis=0)
        if collect:
            acts["embed"] = x_BxLxD
        for i, block in enumerate(self.blocks):
            x_BxLxD = block(x_BxLxD)
            if collect:
                acts[f"block_{i}"] = x_BxLxD
        x_BxLxD = self.final_norm(x_BxLxD)
        B, L, D = x_BxLxD.shape
        head_DxV = embed_VxD.T if self.tie_embeddings else self.lm_head_DxV[...].astype(dt)
        logits_BxLxV = dense(x_BxLxD.reshape(B * L, D), head_DxV).reshape(B, L, -1)
        logits_BxLxV = logits_BxLxV.astype(jnp.float32)
        if self.logit_scale != 1.0:
            logits_BxLxV = logits_BxLxV * self.logit_scale
        if collect:
            acts["logits"] = logits_BxLxV
        return logits_BxLxV, acts


def build_transformer(
    cfg: ModelConfig, rngs: nnx.Rngs, *, param_dtype: Any = jnp.float32, compute_dtype: Any = jnp.float32
) -> Transformer:
    """A `Transformer` for `cfg`; the caller must have set `cfg.vocab_size` (e.g. via `cfg.with_vocab`)."""
    if cfg.vocab_size is None:
        raise ValueError("ModelConfig.vocab_size is None: set it from the tokenizer first (cfg.with_vocab(n))")
    return Transformer(cfg, rngs=rngs, param_dtype=param_dtype, compute_dtype=compute_dtype)
