"""A trained trial back in memory: its config, model graph, final parameters on a mesh, and a jitted evaluator.

Restoring follows the training loop exactly (`init_model` + `abstract_like` over params and optimizer state),
so the arrays come back in their shards. One `Loaded` serves every compression job of its trial: the
evaluator is compiled once per shape and compressed parameters (same shapes, same shardings) reuse it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from scaling.compress.activation_quant import ActivationQuant
from scaling.config import ModelConfig, TrainConfig
from scaling.data import TokenDataset, load_dataset
from scaling.train.checkpoint import Checkpointer, CheckpointError
from scaling.train.loop import compute_dtype_for
from scaling.train.mesh import make_mesh
from scaling.train.optim import make_optimizer
from scaling.train.schedule import make_schedule, plan_schedule
from scaling.train.step import ModelState, Steps, build_steps, init_model, opt_state_shardings


@dataclass
class Loaded:
    """One trained model: config (vocabulary resolved), graph + shardings, final parameters, its step."""

    cfg: TrainConfig
    model_cfg: ModelConfig
    model: ModelState
    params: Any
    step: int
    dataset: TokenDataset
    mesh: Any
    _steps: dict[int | None, Steps] = field(default_factory=dict)  # evaluators by activation bits
    _val: dict[int, jax.Array] = field(default_factory=dict)

    @property
    def logical_axes(self) -> Any:
        return self.model.logical_axes

    def evaluate(self, params: Any, n_batches: int, activation_bits: int | None = None) -> float:
        """Mean next-token cross-entropy of `params` on the first `n_batches` fixed validation batches; with
        `activation_bits`, every matmul reads its input fake-quantized per token to that many bits."""
        steps, val_MxBxL1 = self._evaluator(n_batches, activation_bits)
        params = jax.device_put(params, self.model.param_shardings)
        return float(steps.eval_step(params, val_MxBxL1))

    def batch_losses(self, params: Any, n_batches: int, activation_bits: int | None = None) -> np.ndarray:
        """The loss of `params` on each validation micro-batch that `evaluate(params, n_batches, ...)` averages
        (one extra compile for the single-micro-batch shape): their mean is that average, their spread the
        evaluation's own noise."""
        steps, val_MxBxL1 = self._evaluator(n_batches, activation_bits)
        params = jax.device_put(params, self.model.param_shardings)
        return np.array([float(steps.eval_step(params, jax.device_put(val_MxBxL1[i:i + 1], steps.val_sharding)))
                         for i in range(val_MxBxL1.shape[0])])

    def _evaluator(self, n_batches: int, activation_bits: int | None) -> tuple[Steps, jax.Array]:
        """The jitted evaluator for `activation_bits` and the first `n_batches` validation batches as
        micro-batches on the mesh, built once and cached."""
        if activation_bits not in self._steps:
            model = self.model if activation_bits is None else self.model.with_input_transform(
                self.params, ActivationQuant(activation_bits))
            self._steps[activation_bits] = build_steps(model, optax.identity(), self.mesh, self.params,
                                                       self.cfg.batch_size, self.cfg.grad_accum)
        steps = self._steps[activation_bits]
        if n_batches not in self._val:
            micro = self.cfg.batch_size // self.cfg.grad_accum
            val_NxBxL1 = self.dataset.val_batches(n_batches, self.cfg.batch_size, self.cfg.data.seq_len)
            self._val[n_batches] = jax.device_put(val_NxBxL1.reshape(-1, micro, val_NxBxL1.shape[-1]),
                                                  steps.val_sharding)
        return steps, self._val[n_batches]

    def host_params(self) -> Any:
        """The parameters as numpy arrays (for host-side mask and packing work)."""
        return jax.tree.map(np.asarray, self.params)


def abstract_train_state(cfg: TrainConfig, model: ModelState, params: Any, mesh: Any) -> dict[str, Any]:
    """Shape/dtype/sharding stand-ins for {params, opt_state} as the training loop saved them (nothing computed)."""
    plan = plan_schedule(cfg.optimizer.schedule, cfg.optimizer.lr, cfg.total_steps, cfg.tokens_per_step)
    multipliers = None
    if cfg.model.parameterization == "mup":
        from scaling.models.mup import param_lr_scales

        multipliers = param_lr_scales(cfg.model, params)
    tx = make_optimizer(cfg.optimizer, make_schedule(plan), multipliers)
    opt_abs = jax.eval_shape(tx.init, params)
    opt_sh = opt_state_shardings(tx, params, model.param_shardings, mesh)
    as_struct = lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s)  # noqa: E731
    return {
        "params": jax.tree.map(as_struct, params, model.param_shardings),
        "opt_state": jax.tree.map(as_struct, opt_abs, opt_sh),
    }


def load_trained(cfg: TrainConfig | dict[str, Any], checkpoints: Path,
                 devices: Sequence[jax.Device] | None = None) -> Loaded:
    """The final parameters of the run `cfg` whose checkpoints are in `checkpoints`.

    Only the final checkpoint (step `cfg.total_steps`) will do: a compression result must never come from a
    half-trained model, so a missing or unreadable final checkpoint raises CheckpointError saying which and
    why, instead of falling back to an earlier step. Nothing is moved or deleted here.
    """
    cfg = cfg if isinstance(cfg, TrainConfig) else TrainConfig.model_validate(cfg)
    dataset = load_dataset(cfg.data)
    model_cfg = cfg.model.with_vocab(dataset.vocab_size)
    cfg = cfg.model_copy(update={"model": model_cfg})
    mesh = make_mesh(cfg.mesh, devices)
    model, params = init_model(model_cfg, mesh, cfg.seed, param_dtype=jnp.dtype(cfg.dtype.param),
                               compute_dtype=compute_dtype_for(cfg.dtype.compute))
    abstract = abstract_train_state(cfg, model, params, mesh)
    if not Path(checkpoints).is_dir():
        raise CheckpointError(f"{checkpoints}: no checkpoints (did this trial finish training?)")
    checkpointer = Checkpointer(Path(checkpoints), keep=1, async_save=False)
    try:
        state, _meta = checkpointer.restore_step(cfg.total_steps, abstract)
    except CheckpointError as exc:
        raise CheckpointError(f"the final checkpoint of {cfg.name} is not usable, so it cannot be compressed: "
                              f"{exc}; train the trial again to recreate it") from exc
    finally:
        checkpointer.close()
    return Loaded(cfg, model_cfg, model, state["params"], cfg.total_steps, dataset, mesh)


def param_bytes(params: Any) -> int:
    """Bytes of a parameter tree held densely at its dtypes."""
    return sum(int(np.prod(x.shape)) * jnp.dtype(x.dtype).itemsize for x in jax.tree.leaves(params))
