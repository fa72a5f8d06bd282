"""Causal softmax attention: a cache-blocked kernel with a hand-written backward for CPU, `jax.nn` elsewhere.

On XLA:CPU the generic formulation (autodiff through a masked softmax over B x H x L x L scores) is bound by
memory traffic: every elementwise pass streams the whole score tensor, and autodiff stores it for the backward.
The CPU path here (2-3x faster for the attention core at L=128, d_model 128) instead:

- works heads-first (Z = B*H independent L x K problems) and loops (`lax.map`) over chunks of ~16 of them, so
  each chunk's scores (~1 MB) stay in cache through mask, exp, sum and the two matmuls;
- splits queries into blocks of 64: block i only scores keys 0..(i+1)*64, skipping masked upper-right blocks;
- saves only the output and the row log-sum-exp, and recomputes the probabilities in the backward
  (flash-attention style), using delta = rowsum(dO * O) instead of differentiating max/exp/sum/divide.

Other backends use `jax.nn.dot_product_attention(is_causal=True)`.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

QUERY_BLOCK = 64
CHUNK_SCORE_BYTES = 1 << 20  # scores per chunk of heads: about an L2 cache


def _bdot(a: jax.Array, b: jax.Array, contract_a: int, contract_b: int) -> jax.Array:
    """Batched (over axis 0) matmul contracting a's axis `contract_a` with b's axis `contract_b`."""
    return jax.lax.dot_general(a, b, (((contract_a,), (contract_b,)), ((0,), (0,))))


def query_blocks(seq_len: int) -> int:
    """How many query blocks the kernel uses at `seq_len` (1 unless L is a multiple of 64 and at least 128)."""
    return seq_len // QUERY_BLOCK if seq_len % QUERY_BLOCK == 0 and seq_len >= 2 * QUERY_BLOCK else 1


def _chunk_size(n_heads_total: int, seq_len: int) -> int:
    """Largest divisor of Z = B*H whose scores fit CHUNK_SCORE_BYTES."""
    target = max(1, CHUNK_SCORE_BYTES // (4 * seq_len * seq_len))
    return next(c for c in range(min(target, n_heads_total), 0, -1) if n_heads_total % c == 0)


def _scores(q_ZxCxK: jax.Array, k_ZxMxK: jax.Array, mask_CxM: np.ndarray) -> jax.Array:
    return jnp.where(mask_CxM, _bdot(q_ZxCxK, k_ZxMxK, 2, 2).astype(jnp.float32), -jnp.inf)


def _concat(blocks: list[jax.Array]) -> jax.Array:
    return blocks[0] if len(blocks) == 1 else jnp.concatenate(blocks, axis=1)


def _chunk_forward(q_ZxLxK: jax.Array, k_ZxLxK: jax.Array, v_ZxLxK: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Output and row log-sum-exp for one chunk of heads, one query block at a time."""
    L = q_ZxLxK.shape[1]
    n = query_blocks(L)
    C = L // n
    causal_LxL = np.tril(np.ones((L, L), dtype=bool))
    outs, lses = [], []
    for i in range(n):
        end = (i + 1) * C
        s_ZxCxM = _scores(q_ZxLxK[:, i * C:end], k_ZxLxK[:, :end], causal_LxL[i * C:end, :end])
        max_ZxCx1 = jnp.max(s_ZxCxM, axis=-1, keepdims=True)
        e_ZxCxM = jnp.exp(s_ZxCxM - max_ZxCx1)
        sum_ZxCx1 = jnp.sum(e_ZxCxM, axis=-1, keepdims=True)
        outs.append((_bdot(e_ZxCxM.astype(v_ZxLxK.dtype), v_ZxLxK[:, :end], 2, 1) / sum_ZxCx1).astype(v_ZxLxK.dtype))
        lses.append(max_ZxCx1 + jnp.log(sum_ZxCx1))
    return _concat(outs), _concat(lses)


def _chunk_backward(
    q_ZxLxK: jax.Array, k_ZxLxK: jax.Array, v_ZxLxK: jax.Array, out_ZxLxK: jax.Array, lse_ZxLx1: jax.Array,
    dout_ZxLxK: jax.Array,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """dq, dk, dv for one chunk of heads, recomputing each block's probabilities from the saved lse.

    Works on transposed scores (keys x queries, "MxC"): then dv = P^T dO and dk = dS^T Q are plain matmuls,
    where the untransposed form contracts both operands' leading axis, which XLA:CPU runs ~3x slower.
    """
    L = q_ZxLxK.shape[1]
    n = query_blocks(L)
    C = L // n
    causal_LxL = np.tril(np.ones((L, L), dtype=bool))
    delta_Zx1xL = jnp.sum(dout_ZxLxK.astype(jnp.float32) * out_ZxLxK, axis=-1)[:, None, :]
    lse_Zx1xL = lse_ZxLx1[:, :, 0][:, None, :]
    dqT_blocks = []
    dk_ZxLxK, dv_ZxLxK = jnp.zeros_like(k_ZxLxK), jnp.zeros_like(v_ZxLxK)
    for i in range(n):
        end = (i + 1) * C
        q_ZxCxK, dout_ZxCxK = q_ZxLxK[:, i * C:end], dout_ZxLxK[:, i * C:end]
        sT_ZxMxC = _scores(k_ZxLxK[:, :end], q_ZxCxK, causal_LxL[i * C:end, :end].T)
        pT_ZxMxC = jnp.exp(sT_ZxMxC - lse_Zx1xL[:, :, i * C:end])
        dv_ZxLxK = dv_ZxLxK.at[:, :end].add(_bdot(pT_ZxMxC.astype(v_ZxLxK.dtype), dout_ZxCxK, 2, 1))
        dpT_ZxMxC = _bdot(v_ZxLxK[:, :end], dout_ZxCxK, 2, 2)
        dsT_ZxMxC = (pT_ZxMxC * (dpT_ZxMxC - delta_Zx1xL[:, :, i * C:end])).astype(q_ZxLxK.dtype)
        dk_ZxLxK = dk_ZxLxK.at[:, :end].add(_bdot(dsT_ZxMxC, q_ZxCxK, 2, 1))
        dqT_blocks.append(_bdot(k_ZxLxK[:, :end].transpose(0, 2, 1), dsT_ZxMxC, 2, 1))
    dqT_ZxKxL = dqT_blocks[0] if n == 1 else jnp.concatenate(dqT_blocks, axis=2)
    return dqT_ZxKxL.transpose(0, 2, 1), dk_ZxLxK, dv_ZxLxK


def _map_chunks(fn, chunk: int, *arrays: jax.Array):
    """Apply `fn` to consecutive chunks of axis 0 (sequentially, so each chunk's temporaries stay in cache)."""
    chunked = tuple(a.reshape(a.shape[0] // chunk, chunk, *a.shape[1:]) for a in arrays)
    results = jax.lax.map(lambda xs: fn(*xs), chunked)
    return tuple(r.reshape(r.shape[0] * r.shape[1], *r.shape[2:]) for r in results)


@partial(jax.custom_vjp, nondiff_argnums=(3,))
def _cpu_attention(q_ZxLxK: jax.Array, k_ZxLxK: jax.Array, v_ZxLxK: jax.Array, chunk: int) -> jax.Array:
    return _map_chunks(_chunk_forward, chunk, q_ZxLxK, k_ZxLxK, v_ZxLxK)[0]


def _cpu_attention_fwd(q_ZxLxK, k_ZxLxK, v_ZxLxK, chunk):
    out_ZxLxK, lse_ZxLx1 = _map_chunks(_chunk_forward, chunk, q_ZxLxK, k_ZxLxK, v_ZxLxK)
    return out_ZxLxK, (q_ZxLxK, k_ZxLxK, v_ZxLxK, out_ZxLxK, lse_ZxLx1)


def _cpu_attention_bwd(chunk, res, dout_ZxLxK):
    return _map_chunks(_chunk_backward, chunk, *res, dout_ZxLxK)


_cpu_attention.defvjp(_cpu_attention_fwd, _cpu_attention_bwd)


def causal_attention(q_BxLxHxK: jax.Array, k_BxLxHxK: jax.Array, v_BxLxHxK: jax.Array) -> jax.Array:
    """softmax(q k^T + causal mask) v per head; q must already carry the score scale. Returns out_BxLxHxK."""
    if jax.default_backend() != "cpu":
        return jax.nn.dot_product_attention(q_BxLxHxK, k_BxLxHxK, v_BxLxHxK, scale=1.0, is_causal=True)
    B, L, H, K = q_BxLxHxK.shape

    def heads_first(x_BxLxHxK: jax.Array) -> jax.Array:
        return x_BxLxHxK.transpose(0, 2, 1, 3).reshape(B * H, L, K)

    out_ZxLxK = _cpu_attention(heads_first(q_BxLxHxK), heads_first(k_BxLxHxK), heads_first(v_BxLxHxK),
                               _chunk_size(B * H, L))
    return out_ZxLxK.reshape(B, H, L, K).transpose(0, 2, 1, 3)
