"""Dynamic activation fake-quantization, applied through the model's generic matmul-input hook.

The model knows nothing of quantization: every dense layer reads its input through an optional
`input_transform` (see `scaling.models.layers.matmul_input`), and `ModelState.with_input_transform` sets one
on a copy of the graph. `ActivationQuant(bits)` is that transform for quantized-activation inference (the
`quantize_act` method): a frozen dataclass, so it is hashable and equal by value and two models quantized to
the same bits share a compiled graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp


def quantize_activations(x: jax.Array, bits: int = 8, axis: int = -1) -> jax.Array:
    """Symmetric dynamic fake-quant of activations, one scale per token (absmax over `axis`), with a
    straight-through gradient: x + stop_gradient(q(x) - x). What an int-`bits` activation matmul would see.

    The absmax maps to +/-(2^(b-1) - 1), LLM.int8()'s convention: with the weights' +/-(2^(b-1) - 1/2) a negative
    absmax would land on a rounding tie in every token, and which level it took would hang on the last ulp.
    """
    bound = 2 ** (bits - 1) - 1
    absmax = jax.lax.stop_gradient(jnp.max(jnp.abs(x), axis=axis, keepdims=True))
    scale = jnp.maximum(absmax / bound, jnp.finfo(x.dtype).tiny)
    x_q = jnp.clip(jnp.round(x / scale), -bound, bound) * scale
    return x + jax.lax.stop_gradient(x_q - x)


@dataclass(frozen=True)
class ActivationQuant:
    """A matmul-input transform: each token's activations fake-quantized to `bits` (per-token absmax scale)."""

    bits: int

    def __post_init__(self) -> None:
        if isinstance(self.bits, bool) or not isinstance(self.bits, int) or not 2 <= self.bits <= 16:
            raise ValueError(f"activation bits must be an integer from 2 to 16, got {self.bits!r}")

    def __call__(self, x_NxD: jax.Array) -> jax.Array:
        return quantize_activations(x_NxD, self.bits)
