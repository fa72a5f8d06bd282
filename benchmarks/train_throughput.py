"""Training throughput of the real sharded train step over the CPU size ladder (seq 128, batch 32).

Measures a matmul peak in the same process first, then per size: tokens/s, tokens per CPU-second, achieved
GFLOP/s (exact training FLOPs), MFU against that peak, compile time and peak RSS. The last line printed is a
JSON list of rows with keys size, d_model, n_layers, tokens_per_s, tokens_per_cpu_s, mfu (and more).

    python benchmarks/train_throughput.py [--sizes xs s m l xl] [--steps 30] [--vocab 257]
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import jax
import jax.numpy as jnp
import numpy as np

from scaling import accounting
from scaling.config import MeshConfig, ModelConfig, OptimizerConfig
from scaling.train.mesh import make_mesh
from scaling.train.optim import make_optimizer
from scaling.train.schedule import make_schedule, plan_schedule
from scaling.train.step import build_steps, init_model


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(size: str, *, steps: int, seq_len: int, batch: int, vocab: int, peak: float) -> dict:
    """Time `steps` optimizer steps after one compiling step, on random tokens (the data path is not timed)."""
    cfg = ModelConfig(size=size, vocab_size=vocab)
    mesh = make_mesh(MeshConfig(data=1), jax.devices()[:1])
    model, params = init_model(cfg, mesh, seed=0)
    opt_cfg = OptimizerConfig()
    schedule = make_schedule(plan_schedule(opt_cfg.schedule, opt_cfg.lr, steps + 1, batch * seq_len))
    tx = make_optimizer(opt_cfg, schedule)
    fns = build_steps(model, tx, mesh, params, batch, 1)
    opt_state = fns.init_opt(params)
    rng = np.random.default_rng(0)
    batches = [jax.device_put(rng.integers(0, vocab, (batch, seq_len + 1), dtype=np.int32), fns.batch_sharding)
               for _ in range(4)]
    t0 = time.perf_counter()
    params, opt_state, metrics = fns.train_step(params, opt_state, batches[0])
    jax.block_until_ready(metrics["loss"])
    compile_s = time.perf_counter() - t0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for i in range(steps):
        params, opt_state, metrics = fns.train_step(params, opt_state, batches[i % len(batches)])
    jax.block_until_ready(metrics["loss"])
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    tokens = steps * batch * seq_len
    flops = accounting.flops_per_token(cfg, seq_len)
    achieved = tokens * flops.train_exact / wall
    counts = accounting.param_counts(cfg)
    return {
        "size": size, "d_model": cfg.d_model, "n_layers": cfg.n_layers, "params_non_embedding": counts.non_embedding,
        "tokens_per_s": tokens / wall, "tokens_per_cpu_s": tokens / cpu, "gflops_per_s": achieved / 1e9,
        "mfu": achieved / peak, "compile_s": compile_s, "peak_rss_mb": peak_rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["xs", "s", "m", "l", "xl"])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--vocab", type=int, default=257, help="257 = byte-level, as in the design notes")
    args = parser.parse_args()

    peak = accounting.measure_cpu_peak_flops(seconds=3.0) if jax.default_backend() == "cpu" else \
        accounting.peak_flops_for(jax.devices()[0])[0]
    print(f"backend {jax.default_backend()}, {jax.device_count()} device(s); matmul peak {peak / 1e9:.1f} GFLOP/s")
    print(f"{'size':>4} {'d':>4} {'L':>2} {'tok/s':>9} {'tok/cpu-s':>9} {'GFLOP/s':>8} {'MFU':>6} "
          f"{'compile':>8} {'RSS MB':>7}")
    rows = []
    for size in args.sizes:
        row = measure(size, steps=args.steps, seq_len=args.seq_len, batch=args.batch, vocab=args.vocab, peak=peak)
        rows.append(row)
        print(f"{size:>4} {row['d_model']:>4} {row['n_layers']:>2} {row['tokens_per_s']:>9.0f} "
              f"{row['tokens_per_cpu_s']:>9.0f} {row['gflops_per_s']:>8.1f} {row['mfu']:>6.1%} "
              f"{row['compile_s']:>7.1f}s {row['peak_rss_mb']:>7.0f}", flush=True)
    print(json.dumps([{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in rows]))


if __name__ == "__main__":
    jnp.zeros(1).block_until_ready()
    main()
