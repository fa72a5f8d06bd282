"""Fused LM head + next-token cross-entropy, in token chunks, with gradients computed in the forward pass.

The plain path (logits_NxV, then a softmax cross-entropy) writes and re-reads an N x V float32 tensor several
times (64 MB per pass at 4096 tokens x 4096 vocabulary) and materialises a one-hot gradient; on CPU that costs
more than the head's matmuls. Here a `lax.scan` over chunks of tokens keeps each chunk's logits in cache:
per chunk it computes the loss (logsumexp in float32) and, since the loss gradient is known up to the incoming
scalar, also dx and the chunk's share of dw. The backward pass only scales them. Same FLOPs as the plain path
(3 head matmuls), ~1.5x faster for the head on a 2-core CPU. Used only when differentiated; a plain forward
call runs the loss alone.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

CHUNK_LOGITS_CPU = 1 << 20  # logits per chunk on CPU: 4 MB of float32, about an L2/L3 slice
CHUNK_LOGITS_ACCEL = 1 << 27  # on GPU/TPU, big chunks: the point there is bounding memory, not cache


def chunk_size(n_tokens: int, vocab: int, budget: int | None = None) -> int:
    """Tokens per chunk: the largest divisor of n_tokens within the logits budget, or all of them (one chunk)
    when only a much smaller divisor exists (an awkward n_tokens must not turn into thousands of tiny steps)."""
    if budget is None:
        budget = CHUNK_LOGITS_CPU if jax.default_backend() == "cpu" else CHUNK_LOGITS_ACCEL
    target = max(1, budget // vocab)
    best = next(c for c in range(min(target, n_tokens), 0, -1) if n_tokens % c == 0)
    return best if best * 4 >= min(target, n_tokens) else n_tokens


def _chunk_logits(x_CxD: jax.Array, w_DxV: jax.Array, logit_scale: float) -> jax.Array:
    logits_CxV = jnp.matmul(x_CxD, w_DxV, preferred_element_type=jnp.float32)
    return logits_CxV * logit_scale if logit_scale != 1.0 else logits_CxV


def _chunk_loss(x_CxD, w_DxV, targets_C, logit_scale):
    """Summed loss of one chunk, and its softmax probabilities and logits (float32)."""
    logits_CxV = _chunk_logits(x_CxD, w_DxV, logit_scale)
    max_Cx1 = jnp.max(logits_CxV, axis=-1, keepdims=True)
    e_CxV = jnp.exp(logits_CxV - max_Cx1)
    sum_Cx1 = jnp.sum(e_CxV, axis=-1, keepdims=True)
    lse_C = (max_Cx1 + jnp.log(sum_Cx1))[:, 0]
    target_logit_C = jnp.take_along_axis(logits_CxV, targets_C[:, None], axis=-1)[:, 0]
    return jnp.sum(lse_C - target_logit_C), e_CxV / sum_Cx1


def _chunks(x_NxD: jax.Array, targets_N: jax.Array, chunk: int) -> tuple[jax.Array, jax.Array]:
    N, D = x_NxD.shape
    return x_NxD.reshape(N // chunk, chunk, D), targets_N.reshape(N // chunk, chunk)


def _loss_only(x_NxD, w_DxV, targets_N, logit_scale):
    chunk = chunk_size(x_NxD.shape[0], w_DxV.shape[1])

    def body(total, xs):
        return total + _chunk_loss(xs[0], w_DxV, xs[1], logit_scale)[0], None

    total, _ = jax.lax.scan(body, jnp.zeros((), jnp.float32), _chunks(x_NxD, targets_N, chunk))
    return total / x_NxD.shape[0]


def _loss_and_grads(x_NxD, w_DxV, targets_N, logit_scale):
    """Mean loss, d(mean loss)/dx and d(mean loss)/dw, one chunk of tokens at a time."""
    N = x_NxD.shape[0]
    chunk = chunk_size(N, w_DxV.shape[1])

    def body(carry, xs):
        total, dw_VxD = carry
        x_CxD, targets_C = xs
        loss, probs_CxV = _chunk_loss(x_CxD, w_DxV, targets_C, logit_scale)
        onehot_CxV = jax.nn.one_hot(targets_C, w_DxV.shape[1], dtype=jnp.float32)
        g_CxV = ((probs_CxV - onehot_CxV) * (logit_scale / N)).astype(x_CxD.dtype)
        dx_CxD = jax.lax.dot_general(g_CxV, w_DxV, (((1,), (1,)), ((), ())), preferred_element_type=jnp.float32)
        dw_VxD = dw_VxD + jax.lax.dot_general(g_CxV, x_CxD, (((0,), (0,)), ((), ())),
                                              preferred_element_type=jnp.float32)
        return (total + loss, dw_VxD), dx_CxD

    zeros_VxD = jnp.zeros((w_DxV.shape[1], w_DxV.shape[0]), jnp.float32)
    (total, dw_VxD), dx_MxCxD = jax.lax.scan(body, (jnp.zeros((), jnp.float32), zeros_VxD),
                                             _chunks(x_NxD, targets_N, chunk))
    dx_NxD = dx_MxCxD.reshape(x_NxD.shape).astype(x_NxD.dtype)
    return total / N, dx_NxD, dw_VxD.T.astype(w_DxV.dtype)


@partial(jax.custom_vjp, nondiff_argnums=(3,))
def _fused(x_NxD: jax.Array, w_DxV: jax.Array, targets_N: jax.Array, logit_scale: float) -> jax.Array:
    return _loss_only(x_NxD, w_DxV, targets_N, logit_scale)


def _fused_fwd(x_NxD, w_DxV, targets_N, logit_scale):
    loss, dx_NxD, dw_DxV = _loss_and_grads(x_NxD, w_DxV, targets_N, logit_scale)
    return loss, (dx_NxD, dw_DxV, targets_N)


def _fused_bwd(logit_scale, res, g):
    dx_NxD, dw_DxV, targets_N = res
    no_grad_targets = np.zeros(targets_N.shape, jax.dtypes.float0)
    return (dx_NxD * g).astype(dx_NxD.dtype), (dw_DxV * g).astype(dw_DxV.dtype), no_grad_targets


_fused.defvjp(_fused_fwd, _fused_bwd)


def head_cross_entropy(x_NxD: jax.Array, w_DxV: jax.Array, targets_N: jax.Array, logit_scale: float = 1.0) -> jax.Array:
    """Mean over N of cross-entropy(logit_scale * x @ w, targets), never materialising all N x V logits."""
    return _fused(x_NxD, w_DxV, targets_N.astype(jnp.int32), float(logit_scale))
