"""Training throughput over the CPU size ladder (seq 128, batch 32): the bare train step, or the whole loop.

Measures a matmul peak in the same process first, then per size: tokens/s, tokens per CPU-second, achieved
GFLOP/s (exact training FLOPs), MFU against that peak, compile time and peak RSS. The last line printed is a
JSON list of rows with keys size, d_model, n_layers, tokens_per_s, tokens_per_cpu_s, mfu (and more).

`--loop` times the real training loop instead (`scaling.train.loop.train` on byte-level KJV, metrics into a
sweep store and TensorBoard as the sweep runner sends them): what the host adds around the step (reading
metrics back, logging, the store's transactions) shows up as the gap between the two modes.

    python benchmarks/train_throughput.py [--sizes xs s m l xl] [--steps 30] [--vocab 257]
    python benchmarks/train_throughput.py --loop [--sizes xs s] [--steps 60] [--log-every 10]
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from scaling import accounting
from scaling.config import MeshConfig, ModelConfig, OptimizerConfig, TrainConfig
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


def loop_config(size: str, *, steps: int, seq_len: int, batch: int, log_every: int) -> TrainConfig:
    """A plain run of `steps` steps on byte-level KJV; evaluation and checkpoints only at the end, so the timed
    window holds nothing but steps and their logging."""
    return TrainConfig.model_validate({
        "name": f"bench-{size}", "model": {"size": size}, "steps": steps, "batch_size": batch,
        "data": {"corpus": ["kjv"], "tokenizer": {"kind": "byte"}, "seq_len": seq_len},
        "eval": {"every_steps": steps, "batches": 1}, "checkpoint": {"enabled": False}, "mesh": {"data": 1},
        "log_every": log_every,
    })


def measure_loop(size: str, *, steps: int, seq_len: int, batch: int, log_every: int, peak: float,
                 train_fn: Callable[..., Any] | None = None, sink_cls: type | None = None) -> dict:
    """Time the training loop from the end of its 2nd step to the end of its last (compile excluded).

    `on_step` marks when each step's metrics reached the host; `train_fn` and `sink_cls` default to the
    project's loop and StoreSink and exist so another version of them can be timed the same way.
    """
    from scaling.sweep.store import Store, StoreSink
    from scaling.train.loop import train
    from scaling.train.metrics import TensorBoardSink

    train_fn, sink_cls = train_fn or train, sink_cls or StoreSink
    cfg = loop_config(size, steps=steps, seq_len=seq_len, batch=batch, log_every=log_every)
    marks: dict[int, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "store.sqlite")
        sinks = [sink_cls(store, "bench"), TensorBoardSink(Path(tmp) / "tb")]
        try:
            result = train_fn(cfg, Path(tmp) / "run", sinks=sinks, devices=jax.devices()[:1], show_progress=False,
                              on_step=lambda step: marks.setdefault(step, (time.perf_counter(), time.process_time())))
        finally:
            for sink in sinks:
                sink.close()
        rows = len(store.metrics("bench"))
        store.close()
    (wall0, cpu0), (wall1, cpu1) = marks[2], marks[steps]
    tokens = (steps - 2) * batch * seq_len
    achieved = tokens * result.flops_per_token["train_exact"] / (wall1 - wall0)
    return {
        "size": size, "d_model": cfg.model.d_model, "n_layers": cfg.model.n_layers,
        "params_non_embedding": result.params["non_embedding"], "log_every": log_every, "metric_rows": rows,
        "tokens_per_s": tokens / (wall1 - wall0), "tokens_per_cpu_s": tokens / (cpu1 - cpu0),
        "gflops_per_s": achieved / 1e9, "mfu": achieved / peak, "compile_s": result.compile_s,
        "peak_rss_mb": peak_rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["xs", "s", "m", "l", "xl"])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--vocab", type=int, default=257, help="257 = byte-level, as in the design notes")
    parser.add_argument("--loop", action="store_true", help="time the whole training loop, not the bare step")
    parser.add_argument("--log-every", type=int, default=10, help="with --loop: send train metrics every N steps")
    args = parser.parse_args()

    peak = accounting.measure_cpu_peak_flops(seconds=3.0) if jax.default_backend() == "cpu" else \
        accounting.peak_flops_for(jax.devices()[0])[0]
    print(f"backend {jax.default_backend()}, {jax.device_count()} device(s); matmul peak {peak / 1e9:.1f} GFLOP/s")
    print(f"{'size':>4} {'d':>4} {'L':>2} {'tok/s':>9} {'tok/cpu-s':>9} {'GFLOP/s':>8} {'MFU':>6} "
          f"{'compile':>8} {'RSS MB':>7}")
    rows = []
    for size in args.sizes:
        if args.loop:
            row = measure_loop(size, steps=args.steps, seq_len=args.seq_len, batch=args.batch,
                               log_every=args.log_every, peak=peak)
        else:
            row = measure(size, steps=args.steps, seq_len=args.seq_len, batch=args.batch, vocab=args.vocab,
                          peak=peak)
        rows.append(row)
        print(f"{size:>4} {row['d_model']:>4} {row['n_layers']:>2} {row['tokens_per_s']:>9.0f} "
              f"{row['tokens_per_cpu_s']:>9.0f} {row['gflops_per_s']:>8.1f} {row['mfu']:>6.1%} "
              f"{row['compile_s']:>7.1f}s {row['peak_rss_mb']:>7.0f}", flush=True)
    print(json.dumps([{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in rows]))


if __name__ == "__main__":
    jnp.zeros(1).block_until_ready()
    main()
