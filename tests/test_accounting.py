"""Parameter, FLOP and MFU accounting: hand-worked numbers, the built models' real sizes, and the compiled FLOPs."""

from __future__ import annotations

import math
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from scaling import accounting
from scaling.accounting import FlopCounts, ParamCounts, flops_per_token, mfu, param_counts, peak_flops_for
from scaling.config import SIZE_PRESETS, ModelConfig
from scaling.models import build_model


def test_xs_tied_gelu_by_hand() -> None:
    cfg = ModelConfig(size="xs", vocab_size=257)  # d 48, 2 layers, 4 heads, d_ff 4*48 = 192
    per_layer = 4 * 48 * 48 + 2 * 48 * 192 + 2 * 48  # 9216 (q,k,v,o) + 18432 (mlp) + 96 (two norms) = 27744
    assert per_layer == 27744
    assert param_counts(cfg) == ParamCounts(total=67872, embedding=257 * 48, non_embedding=2 * 27744 + 48)
    f = flops_per_token(cfg, seq_len=128)
    expected = {
        "qkv": 2 * (2 * 48 * 144),  # 27648
        "attn_out": 2 * (2 * 48 * 48),  # 9216
        "mlp": 2 * (2 * 48 * 192 * 2),  # 73728
        "attn_scores": 2 * (2 * 48 * 129 / 2),  # 12384: (L+1)/2 = 64.5 keys per query
        "attn_values": 2 * (2 * 48 * 129 / 2),  # 12384
        "lm_head": 2 * 48 * 257,  # 24672
    }
    assert f.forward_breakdown == expected
    assert f.forward_exact == 160032  # the sum of the above
    assert f.train_exact == 3 * 160032
    assert f.six_n == 6 * 55536 and f.six_n_total == 6 * 67872


def test_untied_swiglu_by_hand() -> None:
    cfg = ModelConfig(d_model=64, n_layers=3, n_heads=4, mlp="swiglu", tie_embeddings=False, vocab_size=1000)
    assert cfg.d_ff == 176  # 16 * ceil(8 * 64 / 3 / 16) = 16 * ceil(10.67)
    per_layer = 4 * 64 * 64 + 3 * 64 * 176 + 2 * 64  # 16384 + 33792 + 128 = 50304
    assert param_counts(cfg) == ParamCounts(
        total=3 * per_layer + 64 + 2 * 1000 * 64, embedding=128000, non_embedding=150976
    )
    f = flops_per_token(cfg, seq_len=16)
    # qkv 3*2*64*192 = 73728; out 3*2*64*64 = 24576; mlp 3*2*64*176*3 = 202752;
    # attention 2 * 3*2*64*(17/2) = 6528; head 2*64*1000 = 128000
    assert f.forward_exact == 73728 + 24576 + 202752 + 6528 + 128000 == 435584


def test_gpt3_small_preset_by_hand() -> None:
    cfg = ModelConfig(size="125m", vocab_size=50257)  # d 768, 12 layers, d_ff 3072
    counts = param_counts(cfg)
    assert counts.non_embedding == 12 * (4 * 768**2 + 2 * 768 * 3072 + 2 * 768) + 768 == 84_953_856
    assert counts.embedding == 50257 * 768 == 38_597_376
    assert counts.total == 123_551_232  # GPT-2 small's 124M less its biases and learned positions
    f = flops_per_token(cfg, seq_len=2048)
    # 2 x (matrix params) + attention 2 * 12*2*768*(2049/2) + head 2*768*50257
    matrices = 12 * (4 * 768**2 + 2 * 768 * 3072)
    assert f.forward_exact == 2 * matrices + 2 * 12 * 2 * 768 * 1024.5 + 2 * 768 * 50257 == 284_831_232
    assert f.six_n == 6 * 84_953_856


def abstract_param_count(cfg: ModelConfig) -> int:
    model = nnx.eval_shape(lambda: build_model(cfg, nnx.Rngs(0)))
    return sum(math.prod(x.shape) for x in jax.tree.leaves(nnx.state(model, nnx.Param)))


@pytest.mark.parametrize("size", list(SIZE_PRESETS))
@pytest.mark.parametrize(
    "variant", [dict(), dict(mlp="swiglu", tie_embeddings=False)], ids=["gelu-tied", "swiglu-untied"]
)
def test_param_counts_equal_the_built_models_leaves(size: str, variant: dict) -> None:
    for vocab in (257, 4096):
        cfg = ModelConfig(size=size, vocab_size=vocab, **variant)
        assert param_counts(cfg).total == abstract_param_count(cfg), (size, vocab, variant)


def test_embedding_counts_the_untied_head() -> None:
    tied = ModelConfig(size="s", vocab_size=4096)
    untied = ModelConfig(size="s", vocab_size=4096, tie_embeddings=False)
    assert param_counts(untied).embedding == 2 * param_counts(tied).embedding
    assert param_counts(untied).non_embedding == param_counts(tied).non_embedding


def dot_flops(jaxpr: jax.core.Jaxpr, loop_trips: bool = True) -> int:
    """2 x multiply-adds of every dot_general in a jaxpr, descending into nested jaxprs (jit, custom_vjp, and
    scan bodies times their trip count: the attention kernel loops over chunks of heads)."""
    total = 0
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "dot_general":
            (contract_lhs, _), _ = eqn.params["dimension_numbers"]
            lhs_shape = eqn.invars[0].aval.shape
            total += 2 * math.prod(eqn.outvars[0].aval.shape) * math.prod(lhs_shape[d] for d in contract_lhs)
        trips = eqn.params["length"] if eqn.primitive.name == "scan" and loop_trips else 1
        assert eqn.primitive.name != "while", "a while loop's trip count is unknown to this counter"
        for value in eqn.params.values():
            for sub in value if isinstance(value, (list, tuple)) else (value,):
                if isinstance(sub, jax.extend.core.ClosedJaxpr):
                    total += trips * dot_flops(sub.jaxpr, loop_trips)
                elif isinstance(sub, jax.extend.core.Jaxpr):
                    total += trips * dot_flops(sub, loop_trips)
    return total


def computed_keys_per_query(seq_len: int) -> float:
    """Keys the CPU attention kernel scores per query: all L below 128, else blocks of 64 queries (causal blocks)."""
    if seq_len % 64 or seq_len < 128:
        return float(seq_len)
    n = seq_len // 64
    return sum(64 * (i + 1) for i in range(n)) / n


@pytest.mark.parametrize(
    "overrides,seq_len",
    [(dict(d_model=64, n_layers=2, n_heads=4), 48), (dict(d_model=64, n_layers=2, n_heads=4, mlp="swiglu",
      tie_embeddings=False), 128), (dict(size="xs"), 256)],
)
def test_exact_forward_flops_match_the_traced_and_compiled_model(overrides: dict, seq_len: int) -> None:
    cfg = ModelConfig(vocab_size=300, **overrides)
    graphdef, params = nnx.split(build_model(cfg, nnx.Rngs(0)), nnx.Param)
    tokens = jnp.zeros((2, seq_len), jnp.int32)

    def forward(p, t):
        return nnx.merge(graphdef, p)(t)

    n_tokens = tokens.size
    exact = flops_per_token(cfg, seq_len).forward_exact
    # The kernel scores `computed_keys_per_query` keys, not the causal mean (L+1)/2 the accounting charges:
    # masked scores cost time but are not useful work. Correct for that, then the counts must agree exactly.
    extra_per_token = cfg.n_layers * 2 * (2 * cfg.d_model * (computed_keys_per_query(seq_len) - (seq_len + 1) / 2))
    jaxpr = jax.make_jaxpr(forward)(params, tokens).jaxpr
    traced = dot_flops(jaxpr) / n_tokens
    assert traced == pytest.approx(exact + extra_per_token, rel=1e-12)

    # XLA's own count adds ~1 FLOP per element of every elementwise op and reduction (norms, softmax, GELU,
    # rotary, residual adds), which the exact count leaves out, so it must be a little larger, never smaller.
    # It also counts a loop body once, not once per trip (the attention kernel loops over chunks of heads at
    # long L), so compare it with the traced matmuls counted the same way.
    cost = jax.jit(forward).lower(params, tokens).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    ratio = cost["flops"] / (dot_flops(jaxpr, loop_trips=False))
    assert 1.0 <= ratio < 1.15, ratio


def test_mfu_arithmetic() -> None:
    assert mfu(tokens_per_s=1000, flops_per_token_train=1e6, peak_flops=1e10) == pytest.approx(0.1)
    f = flops_per_token(ModelConfig(size="xs", vocab_size=257), 128)
    assert isinstance(f, FlopCounts)
    assert mfu(1e4, f.train_exact, 270e9) == pytest.approx(1e4 * 480096 / 270e9)


@pytest.mark.parametrize(
    "kind,dtype,value",
    [
        ("NVIDIA H100 80GB HBM3", "bfloat16", 989e12),
        ("NVIDIA H100 PCIe", "bfloat16", 756e12),
        ("NVIDIA H200", "bfloat16", 989e12),
        ("NVIDIA A100-SXM4-80GB", "bfloat16", 312e12),
        ("NVIDIA A100-SXM4-80GB", "float32", 19.5e12),
        ("TPU v4", "bfloat16", 275e12),
        ("TPU v5 lite", "bfloat16", 197e12),
        ("TPU v5p", "bfloat16", 459e12),
        ("TPU v6 lite", "bfloat16", 918e12),
        ("TPU v6 lite", "float32", 918e12),  # no f32 figure: falls back to bf16 and says so
    ],
)
def test_peak_flops_table(kind: str, dtype: str, value: float) -> None:
    peak, source = peak_flops_for(kind, dtype=dtype)
    assert peak == value
    assert source.startswith("table")


def test_unknown_accelerator_is_an_error_not_a_guess() -> None:
    with pytest.raises(ValueError, match="PEAK_FLOPS"):
        peak_flops_for("Mystery Accelerator 9000")


def test_cpu_peak_comes_from_a_probe() -> None:
    rate = accounting.measure_cpu_peak_flops(seconds=0.3)
    assert 1e9 < rate < 1e13
    peak, source = peak_flops_for(jax.devices("cpu")[0], dtype="float32")
    assert source.startswith("probe") and peak > 1e9
    assert np.isfinite(peak)


def test_accounting_imports_without_jax() -> None:
    code = "import sys, scaling.accounting; assert 'jax' not in sys.modules, 'accounting pulled in jax'"
    subprocess.run([sys.executable, "-c", code], check=True)
