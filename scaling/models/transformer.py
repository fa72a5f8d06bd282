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
from scaling.models.layers import MLP, CausalAttention, InputTransform, RMSNorm, dense, matmul_input, param
from scaling.models.loss import head_cross_entropy
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
        self.input_transform: InputTransform | None = None  # the head's input; see `ModelState.with_input_transform`

    def __call__(self, tokens_BxL: jax.Array) -> jax.Array:
        return self.forward(tokens_BxL)[0]

    def loss(self, tokens_BxL: jax.Array, targets_BxL: jax.Array) -> jax.Array:
        """Mean next-token cross-entropy, the head fused with the loss (equal to CE(model(tokens)), faster)."""
        x_BxLxD = self.trunk(tokens_BxL)
        B, L, D = x_BxLxD.shape
        x_NxD = matmul_input(x_BxLxD.reshape(B * L, D), self.input_transform)
        return head_cross_entropy(x_NxD, self.head_DxV(), targets_BxL.reshape(B * L), self.logit_scale)

    def head_DxV(self) -> jax.Array:
        """The output projection: the embedding's transpose when tied."""
        if self.tie_embeddings:
            return self.embed_VxD[...].astype(self.compute_dtype).T
        return self.lm_head_DxV[...].astype(self.compute_dtype)

    def trunk(self, tokens_BxL: jax.Array, acts: dict[str, jax.Array] | None = None) -> jax.Array:
        """Embedding, blocks and final norm: the normalised residual stream x_BxLxD the head reads."""
        x_BxLxD = jnp.take(self.embed_VxD[...].astype(self.compute_dtype), tokens_BxL, axis=0)
        if acts is not None:
            acts["embed"] = x_BxLxD
        for i, block in enumerate(self.blocks):
            x_BxLxD = block(x_BxLxD)
            if acts is not None:
                acts[f"block_{i}"] = x_BxLxD
        return self.final_norm(x_BxLxD)

    def activations(self, tokens_BxL: jax.Array) -> dict[str, jax.Array]:
        """The residual stream after the embedding and after each block, and the logits (for coordinate checks)."""
        return self.forward(tokens_BxL, collect=True)[1]

    def forward(self, tokens_BxL: jax.Array, *, collect: bool = False) -> tuple[jax.Array, dict[str, jax.Array]]:
        """Logits, and (when `collect`) the named intermediate activations."""
        acts: dict[str, jax.Array] = {}
        x_BxLxD = self.trunk(tokens_BxL, acts if collect else None)
        B, L, D = x_BxLxD.shape
        x_NxD = matmul_input(x_BxLxD.reshape(B * L, D), self.input_transform)
        logits_BxLxV = dense(x_NxD, self.head_DxV()).reshape(B, L, -1)
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
