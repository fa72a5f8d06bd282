"""Causal softmax attention: a blocked kernel with a hand-written backward for CPU, `jax.nn` elsewhere.

On XLA:CPU the generic formulation (autodiff through masked softmax) spends most of its time on elementwise
passes and layout copies over the B x H x L x L score tensor. The CPU path here (measured ~2-4x faster for the
attention core at L=128) does three things:

- heads-first layout (Z = B*H independent L x K problems), so every batched dot is in XLA's preferred form;
- a custom backward that keeps the softmax probabilities and uses delta = rowsum(dO * O), the standard
  flash-attention identity, instead of differentiating through max/exp/sum/divide;
- query blocks of 64: block i only scores keys 0..(i+1)*64, skipping the masked upper-right blocks.

Other backends use `jax.nn.dot_product_attention(is_causal=True)`.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

QUERY_BLOCK = 64


def _bdot(a: jax.Array, b: jax.Array, contract_a: int, contract_b: int) -> jax.Array:
    """Batched (over axis 0) matmul contracting a's axis `contract_a` with b's axis `contract_b`."""
    return jax.lax.dot_general(a, b, (((contract_a,), (contract_b,)), ((0,), (0,))))


def _blocks(seq_len: int) -> int:
    return seq_len // QUERY_BLOCK if seq_len % QUERY_BLOCK == 0 and seq_len >= 2 * QUERY_BLOCK else 1


def _masked_softmax(scores_ZxCxM: jax.Array, mask_CxM: np.ndarray) -> jax.Array:
    s32_ZxCxM = jnp.where(mask_CxM, scores_ZxCxM.astype(jnp.float32), -jnp.inf)
    e_ZxCxM = jnp.exp(s32_ZxCxM - jnp.max(s32_ZxCxM, axis=-1, keepdims=True))
    return e_ZxCxM / jnp.sum(e_ZxCxM, axis=-1, keepdims=True)


def _forward(
    q_ZxLxK: jax.Array, k_ZxLxK: jax.Array, v_ZxLxK: jax.Array, n_blocks: int
) -> tuple[jax.Array, tuple[jax.Array, ...]]:
    """Output and the probabilities of each query block (block i: C queries x (i+1)C keys)."""
    L = q_ZxLxK.shape[1]
    C = L // n_blocks
    causal_LxL = np.tril(np.ones((L, L), dtype=bool))
    probs, outs = [], []
    for i in range(n_blocks):
        end = (i + 1) * C
        scores_ZxCxM = _bdot(q_ZxLxK[:, i * C:end], k_ZxLxK[:, :end], 2, 2)
        p_ZxCxM = _masked_softmax(scores_ZxCxM, causal_LxL[i * C:end, :end]).astype(v_ZxLxK.dtype)
        probs.append(p_ZxCxM)
        outs.append(_bdot(p_ZxCxM, v_ZxLxK[:, :end], 2, 1))
    out_ZxLxK = outs[0] if n_blocks == 1 else jnp.concatenate(outs, axis=1)
    return out_ZxLxK, tuple(probs)


@partial(jax.custom_vjp, nondiff_argnums=(3,))
def _blocked_attention(q_ZxLxK: jax.Array, k_ZxLxK: jax.Array, v_ZxLxK: jax.Array, n_blocks: int) -> jax.Array:
    return _forward(q_ZxLxK, k_ZxLxK, v_ZxLxK, n_blocks)[0]


def _blocked_fwd(q_ZxLxK, k_ZxLxK, v_ZxLxK, n_blocks):
    out_ZxLxK, probs = _forward(q_ZxLxK, k_ZxLxK, v_ZxLxK, n_blocks)
    return out_ZxLxK, (q_ZxLxK, k_ZxLxK, v_ZxLxK, probs, out_ZxLxK)


def _blocked_bwd(n_blocks, res, dout_ZxLxK):
    q_ZxLxK, k_ZxLxK, v_ZxLxK, probs, out_ZxLxK = res
    C = q_ZxLxK.shape[1] // n_blocks
    delta_ZxLx1 = jnp.sum(dout_ZxLxK * out_ZxLxK, axis=-1, keepdims=True)
    dq_blocks = []
    dk_ZxLxK, dv_ZxLxK = jnp.zeros_like(k_ZxLxK), jnp.zeros_like(v_ZxLxK)
    for i, p_ZxCxM in enumerate(probs):
        end = (i + 1) * C
        dout_ZxCxK = dout_ZxLxK[:, i * C:end]
        dv_ZxLxK = dv_ZxLxK.at[:, :end].add(_bdot(p_ZxCxM, dout_ZxCxK, 1, 1))
        dp_ZxCxM = _bdot(dout_ZxCxK, v_ZxLxK[:, :end], 2, 2)
        ds_ZxCxM = p_ZxCxM * (dp_ZxCxM - delta_ZxLx1[:, i * C:end])
        dq_blocks.append(_bdot(ds_ZxCxM, k_ZxLxK[:, :end], 2, 1))
        dk_ZxLxK = dk_ZxLxK.at[:, :end].add(_bdot(ds_ZxCxM, q_ZxLxK[:, i * C:end], 1, 1))
    dq_ZxLxK = dq_blocks[0] if n_blocks == 1 else jnp.concatenate(dq_blocks, axis=1)
    return dq_ZxLxK, dk_ZxLxK, dv_ZxLxK


_blocked_attention.defvjp(_blocked_fwd, _blocked_bwd)


def causal_attention(q_BxLxHxK: jax.Array, k_BxLxHxK: jax.Array, v_BxLxHxK: jax.Array) -> jax.Array:
    """softmax(q k^T + causal mask) v per head; q must already carry the score scale. Returns out_BxLxHxK."""
    if jax.default_backend() != "cpu":
        return jax.nn.dot_product_attention(q_BxLxHxK, k_BxLxHxK, v_BxLxHxK, scale=1.0, is_causal=True)
    B, L, H, K = q_BxLxHxK.shape

    def heads_first(x_BxLxHxK: jax.Array) -> jax.Array:
        return x_BxLxHxK.transpose(0, 2, 1, 3).reshape(B * H, L, K)

    out_ZxLxK = _blocked_attention(heads_first(q_BxLxHxK), heads_first(k_BxLxHxK), heads_first(v_BxLxHxK),
                                   _blocks(L))
    return out_ZxLxK.reshape(B, H, L, K).transpose(0, 2, 1, 3)
