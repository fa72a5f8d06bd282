"""Run one compression job on a loaded model and return its result row: loss on the fixed validation batches,
the uncompressed model's loss on the same batches, bytes as stored, non-zero counts, tokens trained.

`result["status"]` is "done", or "interrupted" when a training job was asked to stop (the stage then gives
the job back to the queue; its checkpoints let the next run resume it). Which op runs a job is its method's
family in the `METHODS` table (scaling.compress.settings).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from scaling import accounting
from scaling.compress.eval_noise import eval_noise
from scaling.compress.finetune import finetune, train_student
from scaling.compress.jobs import CompressJob, student_model
from scaling.compress.model_io import Loaded
from scaling.compress.pack import packed_size_bytes
from scaling.compress.prune import apply_masks, count_nonzero, make_masks, masked_update
from scaling.compress.quantize import fake_quantize_params, qat_params
from scaling.compress.settings import WeightQuant, method
from scaling.compress.storage import dense_bytes, sparse_bytes
from scaling.train.metrics import MetricSink


def base_loss(loaded: Loaded, eval_batches: int, cache: dict[tuple[str, int], Any], key: str) -> float:
    """The uncompressed model's loss on the stage's evaluation batches (computed once per source)."""
    if (key, eval_batches) not in cache:
        cache[(key, eval_batches)] = loaded.evaluate(loaded.params, eval_batches)
    return cache[(key, eval_batches)]


def base_batch_losses(loaded: Loaded, eval_batches: int, cache: dict[tuple[str, int], Any], key: str) -> np.ndarray:
    """The uncompressed model's per-batch losses on the same batches (once per source): the deltas' pairing."""
    if (f"{key}/batches", eval_batches) not in cache:
        cache[(f"{key}/batches", eval_batches)] = loaded.batch_losses(loaded.params, eval_batches)
    return cache[(f"{key}/batches", eval_batches)]


def _prune(loaded: Loaded, job: CompressJob, workdir: Path, sinks: Sequence[MetricSink],
           stop: threading.Event | None) -> dict[str, Any]:
    s = job.settings
    row = method(job.method)
    kind = row.prune_kind
    nm: dict[str, int] = {}
    if kind == "nm":
        n, m = (int(x) for x in str(job.value).split(":"))
        nm = {"n": n, "m": m}
    masks = make_masks(loaded.host_params(), kind, None if kind == "nm" else job.ratio, **nm, scope=s["scope"],
                       include_embedding=s["include_embedding"], logical_axes=loaded.logical_axes)
    params = apply_masks(loaded.params, masks)
    out: dict[str, Any] = {"loss_before_recovery": loaded.evaluate(params, s["eval_batches"]), "tokens": 0}
    if s["recovery_tokens"]:
        result, tuned = finetune(loaded, params, workdir, tokens=s["recovery_tokens"],
                                 lr_scale=s["recovery_lr_scale"], eval_batches=s["eval_batches"],
                                 wrap_optimizer=lambda tx: masked_update(tx, masks), sinks=sinks, stop=stop)
        if result.status != "done":
            return {"status": "interrupted" if result.status == "interrupted" else "failed",
                    "reason": result.reason}
        params = tuned
        out.update(tokens=result.tokens, train_loss=result.train_loss)
    host = jax.tree.map(np.asarray, params)
    counts = count_nonzero(host, include_embedding=s["include_embedding"], logical_axes=loaded.logical_axes)
    pruned_outside_mask = sum(
        int(np.count_nonzero(np.asarray(w)[~np.asarray(mk)]))
        for w, mk in zip(jax.tree.leaves(host), jax.tree.leaves(masks, is_leaf=lambda x: x is True), strict=True)
        if mk is not True
    )
    out.update(
        val_loss=loaded.evaluate(params, s["eval_batches"]), nonzero=counts, sparsity=counts["sparsity"],
        batch_losses=loaded.batch_losses(params, s["eval_batches"]),
        nonzero_outside_mask=pruned_outside_mask,
        bytes=sparse_bytes(host, masks, row.index, nm.get("m")),
        params={"total": counts["nonzero"]},
    )
    return out


def _quantize(loaded: Loaded, job: CompressJob, workdir: Path, sinks: Sequence[MetricSink],
              stop: threading.Event | None) -> dict[str, Any]:
    s = job.settings
    quant = WeightQuant.from_settings(s, job.value)
    axes = loaded.logical_axes
    params = loaded.params
    out: dict[str, Any] = {"bits": quant.bits, "tokens": 0}
    if method(job.method).trains:  # QAT: fine-tune through straight-through fake-quantized weights first
        result, tuned = finetune(loaded, params, workdir, tokens=s["recovery_tokens"],
                                 lr_scale=s["recovery_lr_scale"], eval_batches=s["eval_batches"],
                                 param_transform=lambda p: qat_params(p, quant, logical_axes=axes), sinks=sinks,
                                 stop=stop)
        if result.status != "done":
            return {"status": "interrupted" if result.status == "interrupted" else "failed",
                    "reason": result.reason}
        params = tuned
        out.update(tokens=result.tokens, train_loss=result.train_loss)
    quantized = fake_quantize_params(params, quant, logical_axes=axes)
    host = jax.tree.map(np.asarray, params)
    act_bits = s.get("activation_bits")  # quantize_act: dynamic per-token activation fake-quant as well
    if act_bits is not None:
        out["activation_bits"] = act_bits
    out.update(
        val_loss=loaded.evaluate(quantized, s["eval_batches"], activation_bits=act_bits),
        batch_losses=loaded.batch_losses(quantized, s["eval_batches"], act_bits),
        bytes=packed_size_bytes(host, quant, logical_axes=axes),
    )
    return out


def _distill(loaded: Loaded, job: CompressJob, workdir: Path, sinks: Sequence[MetricSink],
             stop: threading.Event | None, teacher_tokens: int) -> dict[str, Any]:
    s = job.settings
    student = student_model(job.value, loaded.model_cfg)
    kd = job.method == "distill"
    result = train_student(
        loaded, student, workdir, tokens=s["tokens"] or teacher_tokens, lr=s["lr"] or loaded.cfg.optimizer.lr,
        eval_batches=s["eval_batches"], temperature=s["temperature"] if kd else None,
        alpha=s.get("alpha", 0.5), sinks=sinks, stop=stop,
    )
    if result.status != "done":
        return {"status": "interrupted" if result.status == "interrupted" else "failed", "reason": result.reason}
    counts = accounting.param_counts(student)
    return {
        "val_loss": result.val_loss, "train_loss": result.train_loss, "tokens": result.tokens,
        "student": student.label(), "student_params": counts.non_embedding, "params": result.params,
        "bytes": counts.total * np.dtype(loaded.cfg.dtype.param).itemsize, "flops": result.flops,
        "objective": "kd" if kd else "ce",
    }


def run_job(loaded: Loaded, job: CompressJob, workdir: Path, *, sinks: Sequence[MetricSink] = (),
            stop: threading.Event | None = None, base_cache: dict[tuple[str, int], Any] | None = None,
            teacher_tokens: int | None = None) -> dict[str, Any]:
    """Compress, (fine-tune,) evaluate; the row `store.finish` records (status "done" unless interrupted)."""
    family = method(job.method).family  # ValueError naming the known methods for a name not in METHODS
    workdir = Path(workdir)
    cache = base_cache if base_cache is not None else {}
    base = base_loss(loaded, job.settings["eval_batches"], cache, job.source)
    base_batches = base_batch_losses(loaded, job.settings["eval_batches"], cache, job.source)
    dense = dense_bytes(loaded.params)
    if family == "dense":
        out: dict[str, Any] = {"val_loss": base, "bytes": dense, "tokens": 0, "batch_losses": base_batches}
    elif family == "prune":
        out = _prune(loaded, job, workdir, sinks, stop)
    elif family == "quantize":
        out = _quantize(loaded, job, workdir, sinks, stop)
    else:
        out = _distill(loaded, job, workdir, sinks, stop, teacher_tokens or loaded.cfg.total_tokens)
    if out.get("status") in ("interrupted", "failed"):
        return out
    batches = out.pop("batch_losses", None)  # students are evaluated by their own loop: no per-batch losses
    if batches is not None:  # the evaluation noise: per-batch SEM and, paired with the dense model, the delta's SE
        out.update(eval_noise(batches, None if family == "dense" else base_batches))
    out.setdefault("params", {"total": accounting.param_counts(loaded.model_cfg).total})
    out.update(
        status="done", method=job.method, value=job.value, ratio=job.ratio, base_loss=base,
        delta_loss=out["val_loss"] - base, dense_bytes=dense, compression=dense / out["bytes"],
        eval_batches=job.settings["eval_batches"],
    )
    if not math.isfinite(out["val_loss"]):
        out["status"] = "diverged"
    return out
