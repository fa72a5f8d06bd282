"""Parameter, FLOP and MFU arithmetic from a `ModelConfig` alone (no JAX at import: `scaling fit` and plots use it).

Conventions (the ones every fit and report should name):

- Parameters. `embedding` = the token-embedding table (V x D) plus the LM head (D x V) when it is untied; with
  tied embeddings the one table is counted once. `non_embedding` = everything else: per layer the fused Q/K/V
  (3 D^2), the attention output (D^2), the MLP (2 D F for GELU, 3 D F for SwiGLU) and two RMSNorm scales (2 D),
  plus the final norm (D). This is Kaplan et al.'s N (which excludes the embedding and the LM head), except
  that the few norm scales are included. The model has no biases and no learned positions (rotary).
- FLOPs per token (a multiply-add is 2 FLOPs). `forward_exact` counts every matmul of the forward pass: the
  Q/K/V and output projections, the MLP matrices, the LM head (2 D V), and attention's QK^T and AV with the
  causal half counted once: query i attends to i+1 keys, so the mean over L positions is (L+1)/2 keys, giving
  2 * 2 * D * (L+1)/2 per layer. Excluded: norms, softmax, rotary, activation functions, residual adds and the
  embedding lookup (a gather). `train_exact` = 3 x forward (backward = 2 x forward: gradients for inputs and
  weights). `six_n` = 6 N_non_embedding (Kaplan's C ~ 6 N D), `six_n_total` = 6 N_total.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:  # a type only: `scaling fit` imports this module and should not pay for the config schema
    from scaling.config import ModelConfig

ComputeConvention = Literal["6nd", "exact"]
COMPUTE_CONVENTIONS: tuple[str, ...] = ("6nd", "exact")
FLOPS_PER_PARAM_TOKEN = 6.0  # Kaplan et al. 2020, Hoffmann et al. 2022: forward 2N + backward 4N per token


@dataclass(frozen=True)
class ParamCounts:
    """Parameter counts by the convention in the module docstring."""

    total: int
    embedding: int
    non_embedding: int


@dataclass(frozen=True)
class FlopCounts:
    """FLOPs per token: the 6N approximations and the exact matmul counts (forward, and training = 3x forward)."""

    six_n: float
    six_n_total: float
    forward_exact: float
    train_exact: float
    forward_breakdown: dict[str, float] = field(default_factory=dict)


def compute(n: Any, d: Any, convention: ComputeConvention = "6nd", flops_per_token: Any = None) -> Any:
    """Training compute C of N parameters on D tokens: `6nd` = 6 N D, `exact` = the exact FLOPs per token x D.

    The only place 6ND is written. `exact` needs `flops_per_token` (e.g. `flops_per_token(cfg, L).train_exact`);
    arrays broadcast and come back as float64 arrays, scalars as floats.
    """
    d_arr = np.asarray(d, dtype=np.float64)
    if convention == "6nd":
        out = FLOPS_PER_PARAM_TOKEN * np.asarray(n, dtype=np.float64) * d_arr
    elif convention == "exact":
        if flops_per_token is None:
            raise ValueError("compute(convention='exact') needs flops_per_token (the exact training FLOPs per token)")
        out = np.asarray(flops_per_token, dtype=np.float64) * d_arr
    else:
        raise ValueError(f"unknown compute convention {convention!r}; valid: {', '.join(COMPUTE_CONVENTIONS)}")
    return float(out) if out.ndim == 0 else out


def tokens_for_compute(c: Any, n: Any) -> Any:
    """D with 6 N D = C: the tokens a budget of C FLOPs buys a model of N parameters (the inverse of `compute`)."""
    out = np.asarray(c, dtype=np.float64) / (FLOPS_PER_PARAM_TOKEN * np.asarray(n, dtype=np.float64))
    return float(out) if out.ndim == 0 else out


def _vocab(cfg: ModelConfig) -> int:
    if cfg.vocab_size is None:
        raise ValueError("ModelConfig.vocab_size is None: set it from the tokenizer first (cfg.with_vocab(n))")
    return cfg.vocab_size


def _mlp_matrices(cfg: ModelConfig) -> int:
    return 3 if cfg.mlp == "swiglu" else 2


def param_counts(cfg: ModelConfig) -> ParamCounts:
    """Total, embedding and non-embedding parameters of the `transformer` family for `cfg`."""
    V, D, F, n = _vocab(cfg), cfg.d_model, cfg.d_ff, cfg.n_layers
    per_layer = 4 * D * D + _mlp_matrices(cfg) * D * F + 2 * D
    non_embedding = n * per_layer + D
    embedding = V * D * (1 if cfg.tie_embeddings else 2)
    return ParamCounts(total=embedding + non_embedding, embedding=embedding, non_embedding=non_embedding)


def flops_per_token(cfg: ModelConfig, seq_len: int) -> FlopCounts:
    """FLOPs per trained token at sequence length `seq_len` (see the module docstring for what is counted)."""
    V, D, F, n, L = _vocab(cfg), cfg.d_model, cfg.d_ff, cfg.n_layers, seq_len
    counts = param_counts(cfg)
    breakdown = {
        "qkv": n * 2 * D * 3 * D,
        "attn_out": n * 2 * D * D,
        "mlp": n * 2 * D * F * _mlp_matrices(cfg),
        "attn_scores": n * 2 * D * (L + 1) / 2,  # QK^T over the mean causal context (L+1)/2
        "attn_values": n * 2 * D * (L + 1) / 2,  # probs @ V, same context
        "lm_head": 2 * D * V,
    }
    forward = float(sum(breakdown.values()))
    return FlopCounts(
        six_n=FLOPS_PER_PARAM_TOKEN * counts.non_embedding,
        six_n_total=FLOPS_PER_PARAM_TOKEN * counts.total,
        forward_exact=forward,
        train_exact=3.0 * forward,
        forward_breakdown={k: float(v) for k, v in breakdown.items()},
    )


def mfu(tokens_per_s: float, flops_per_token_train: float, peak_flops: float) -> float:
    """Model FLOPs utilisation: achieved training FLOP/s over the device's peak FLOP/s."""
    return tokens_per_s * flops_per_token_train / peak_flops


# Dense peak FLOP/s per chip (no sparsity), from the vendors' data sheets. "float32" is the non-tensor-core
# (GPU) rate; TPUs run f32 matmuls as several bf16 passes and have no separate figure here.
PEAK_FLOPS: dict[str, dict[str, float]] = {
    "a100": {"bfloat16": 312e12, "float32": 19.5e12},
    "h100": {"bfloat16": 989e12, "float32": 67e12},  # SXM
    "h100 pcie": {"bfloat16": 756e12, "float32": 51e12},
    "h200": {"bfloat16": 989e12, "float32": 67e12},
    "tpu v4": {"bfloat16": 275e12},
    "tpu v5e": {"bfloat16": 197e12},
    "tpu v5p": {"bfloat16": 459e12},
    "tpu v6e": {"bfloat16": 918e12},
}

# jax `device_kind` spellings -> table keys, most specific first.
_KIND_ALIASES: tuple[tuple[str, str], ...] = (
    ("h100 pcie", "h100 pcie"),
    ("h100", "h100"),
    ("h200", "h200"),
    ("a100", "a100"),
    ("tpu v5 lite", "tpu v5e"),
    ("tpu v5e", "tpu v5e"),
    ("tpu v5p", "tpu v5p"),
    ("tpu v5", "tpu v5p"),
    ("tpu v6 lite", "tpu v6e"),
    ("tpu v6e", "tpu v6e"),
    ("tpu v4", "tpu v4"),
)


def table_key(device_kind: str) -> str | None:
    """The PEAK_FLOPS key for a jax `device_kind` string such as 'NVIDIA H100 80GB HBM3', or None if unknown."""
    kind = device_kind.lower()
    for needle, key in _KIND_ALIASES:
        if needle in kind:
            return key
    return None


def _matmul_chain(n: int, reps: int) -> Any:
    """`reps` chained n x n products in one call, so dispatch overhead does not count against the matmuls."""

    def chain(a: Any, b: Any) -> Any:
        for _ in range(reps):
            a = (a @ b) * (1.0 / n)
        return a

    return chain


@lru_cache(maxsize=4)
def measure_cpu_peak_flops(seconds: float = 1.0, dtype: str = "float32") -> float:
    """Best sustained f32 matmul FLOP/s on the default device: square matmuls of a few sizes, `seconds` each-ish.

    The probe is what this framework can reach (jit'd jnp.dot), so MFU on CPU reads as "share of achievable".
    """
    import jax
    import jax.numpy as jnp

    best = 0.0
    per_size = seconds / 3
    for n in (256, 512, 1024):
        a = jnp.ones((n, n), dtype) * 0.5
        b = jnp.ones((n, n), dtype) * 0.5
        f = jax.jit(_matmul_chain(n, reps := 8))
        f(a, b).block_until_ready()
        calls, start = 0, time.perf_counter()
        while True:
            f(a, b).block_until_ready()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= per_size:
                break
        best = max(best, calls * reps * 2 * n**3 / elapsed)
    return best


def peak_flops_for(device: Any = None, dtype: str = "bfloat16") -> tuple[float, str]:
    """(peak FLOP/s, where it came from) for a jax device or `device_kind` string: the table, or a CPU probe."""
    if device is None:
        import jax

        device = jax.devices()[0]
    kind = device if isinstance(device, str) else getattr(device, "device_kind", str(device))
    key = table_key(kind)
    if key is not None:
        rates = PEAK_FLOPS[key]
        if dtype in rates:
            return rates[dtype], f"table: {key} {dtype} dense peak"
        return rates["bfloat16"], f"table: {key} bfloat16 dense peak (no {dtype} figure)"
    platform = device if isinstance(device, str) else getattr(device, "platform", "")
    if "cpu" not in str(platform).lower() and "cpu" not in kind.lower():
        raise ValueError(f"no peak FLOP/s known for device {kind!r}; add it to scaling.accounting.PEAK_FLOPS")
    return measure_cpu_peak_flops(), "probe: best sustained float32 matmul on this CPU (jit'd jnp.dot)"
