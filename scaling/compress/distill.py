"""Knowledge-distillation loss: a temperature-softened KL to the teacher mixed with the usual next-token CE."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def distillation_loss(
    student_logits_BxLxV: jax.Array,
    teacher_logits_BxLxV: jax.Array,
    targets_BxL: jax.Array,
    temperature: float = 2.0,
    alpha: float = 0.5,
    mask_BxL: jax.Array | None = None,
) -> jax.Array:
    """alpha * T^2 * KL(softmax(teacher/T) || softmax(student/T)) + (1 - alpha) * CE(student, targets).

    Means over tokens (those where `mask_BxL` is true, when given). The T^2 keeps the KL term's gradient on the
    same scale as the CE's whatever the temperature (Hinton et al. 2015). The teacher gets no gradient. Computed
    in float32, in log space on both sides, so a teacher probability that underflows costs nothing.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    student_BxLxV = student_logits_BxLxV.astype(jnp.float32)
    teacher_BxLxV = jax.lax.stop_gradient(teacher_logits_BxLxV.astype(jnp.float32))
    log_p_student_BxLxV = jax.nn.log_softmax(student_BxLxV / temperature, axis=-1)
    log_p_teacher_BxLxV = jax.nn.log_softmax(teacher_BxLxV / temperature, axis=-1)
    kl_BxL = optax.losses.kl_divergence_with_log_targets(log_p_student_BxLxV, log_p_teacher_BxLxV)
    ce_BxL = optax.losses.softmax_cross_entropy_with_integer_labels(student_BxLxV, targets_BxL)
    if mask_BxL is None:
        kl, ce = kl_BxL.mean(), ce_BxL.mean()
    else:
        w_BxL = mask_BxL.astype(jnp.float32)
        n = jnp.maximum(w_BxL.sum(), 1.0)
        kl, ce = (kl_BxL * w_BxL).sum() / n, (ce_BxL * w_BxL).sum() / n
    return alpha * temperature**2 * kl + (1.0 - alpha) * ce
