"""Pure, jitted step functions with explicit shardings: `(params, opt_state, batch) -> (params, opt_state, metrics)`.

The model is split once into a static graphdef and a pure dict of parameters; every array's placement comes from
its logical axes through `mesh.RULES`, and the step is compiled once per shape with in/out shardings fixed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jax.sharding import Mesh, NamedSharding

from scaling.config import ModelConfig
from scaling.models import build_model
from scaling.train import mesh as mesh_lib


def next_token_loss(logits_BxLxV: jax.Array, targets_BxL: jax.Array) -> jax.Array:
    """Mean next-token cross-entropy in float32 (logsumexp form, stable for any logit scale)."""
    losses_BxL = optax.softmax_cross_entropy_with_integer_labels(logits_BxLxV.astype(jnp.float32), targets_BxL)
    return losses_BxL.mean()


# (student logits_BxLxV, targets_BxL, teacher logits_BxLxV or None) -> scalar loss; the default is
# `next_token_loss` on the first two. Distillation passes its KL + CE mix here (scaling/compress/distill.py).
LossFn = Callable[[jax.Array, jax.Array, "jax.Array | None"], jax.Array]


@dataclass
class ModelState:
    """Everything needed to run the model: the static graph, the non-trainable rest, and shardings."""

    graphdef: Any
    rest: Any
    param_shardings: Any
    logical_axes: Any

    def apply(self, params: Any, tokens_BxL: jax.Array) -> jax.Array:
        return nnx.merge(self.graphdef, params, self.rest)(tokens_BxL)

    def loss(self, params: Any, tokens_BxL: jax.Array, targets_BxL: jax.Array) -> jax.Array:
        """Mean next-token cross-entropy; a family with a fused head + loss (`model.loss`) never builds logits."""
        model = nnx.merge(self.graphdef, params, self.rest)
        if hasattr(model, "loss"):
            return model.loss(tokens_BxL, targets_BxL)
        return next_token_loss(model(tokens_BxL), targets_BxL)

    def with_input_transform(self, params: Any, transform: Callable[[jax.Array], jax.Array] | None) -> ModelState:
        """The same model whose weight matmuls read their inputs through `transform` (None: unchanged), e.g.
        `scaling.compress.activation_quant.ActivationQuant(8)`. The transform is static, so it lives in a new
        graphdef (one more compile; a hashable transform equal by value reuses it) and the parameters are shared."""
        model = nnx.merge(self.graphdef, params, self.rest)
        for _path, module in nnx.iter_modules(model):
            if hasattr(module, "input_transform"):
                module.input_transform = transform
        graphdef = nnx.split(model, nnx.Param, ...)[0]
        return dataclasses.replace(self, graphdef=graphdef)

def apply_step(
    loss_fn: Callable[[Any, jax.Array], jax.Array],
    tx: optax.GradientTransformation,
    p: Any,
    opt_state: Any,
    batch_BxL1: jax.Array,
    grad_accum: int,
    micro_sharding: NamedSharding | None,
    lr_scale: jax.Array | None = None,
) -> tuple[Any, Any, dict[str, jax.Array]]:
    """One optimizer step of `loss_fn(params, batch)`, the batch split into `grad_accum` micro-batches; the
    updates are multiplied by `lr_scale` when given (packed runs: each member's peak lr, the schedule's shape
    in `tx`). Shared by the single-run step and the packed one, so both do exactly the same arithmetic."""
    if grad_accum == 1:
        loss, grads = jax.value_and_grad(loss_fn)(p, batch_BxL1)
    else:
        batch_AxMxL1 = batch_BxL1.reshape(grad_accum, batch_BxL1.shape[0] // grad_accum, -1)
        if micro_sharding is not None:
            batch_AxMxL1 = jax.lax.with_sharding_constraint(batch_AxMxL1, micro_sharding)

        def accumulate(carry, micro_MxL1):
            loss_sum, grad_sum = carry
            loss_i, grads_i = jax.value_and_grad(loss_fn)(p, micro_MxL1)
            return (loss_sum + loss_i, jax.tree.map(jnp.add, grad_sum, grads_i)), None

        zeros = jax.tree.map(jnp.zeros_like, p)
        (loss, grads), _ = jax.lax.scan(accumulate, (jnp.zeros((), jnp.float32), zeros), batch_AxMxL1)
        loss, grads = loss / grad_accum, jax.tree.map(lambda g: g / grad_accum, grads)
    grad_norm = optax.tree.norm(grads)
    updates, opt_state = tx.update(grads, opt_state, p)
    if lr_scale is not None:
        updates = jax.tree.map(lambda u: u * lr_scale, updates)
    p = optax.apply_updates(p, updates)
    return p, opt_state, {"loss": loss, "grad_norm": grad_norm}


def _param_dicts(model: nnx.Module) -> tuple[Any, Any, Any]:
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    return graphdef, nnx.to_pure_dict(params), nnx.to_pure_dict(rest)


def init_model(
    cfg: ModelConfig, mesh: Mesh, seed: int, *, param_dtype: Any = jnp.float32, compute_dtype: Any = jnp.float32
) -> tuple[ModelState, Any]:
    """Build the model's parameters directly in their shards (never whole on one device) from `seed`."""

    def build() -> nnx.Module:
        return build_model(cfg, nnx.Rngs(seed), param_dtype=param_dtype, compute_dtype=compute_dtype)

    abstract = nnx.eval_shape(build)
    graphdef, abs_params, abs_rest = nnx.split(abstract, nnx.Param, ...)
    is_var = lambda x: isinstance(x, nnx.Variable)  # noqa: E731
    logical = jax.tree.map(lambda v: v.get_metadata().get("logical_axes"), abs_params, is_leaf=is_var)
    logical = nnx.to_pure_dict(logical) if isinstance(logical, nnx.State) else logical

    def to_sharding(axes: Any, var: Any) -> NamedSharding:
        shape = var.value.shape if is_var(var) else var.shape
        if axes is None:
            axes = (None,) * len(shape)
        return NamedSharding(mesh, mesh_lib.logical_to_spec(axes, shape, mesh, what=f"parameter {shape}"))

    abs_params_pure = nnx.to_pure_dict(abs_params)
    shardings = jax.tree.map(
        to_sharding, logical, abs_params_pure, is_leaf=lambda x: isinstance(x, tuple) or x is None
    )
    params = jax.jit(lambda: _param_dicts(build())[1], out_shardings=shardings)()
    rest = nnx.to_pure_dict(abs_rest)
    rest = jax.jit(lambda: _param_dicts(build())[2], out_shardings=mesh_lib.replicated(mesh))() if rest else rest
    return ModelState(graphdef, rest, shardings, logical), params


def opt_state_shardings(tx: optax.GradientTransformation, params: Any, param_shardings: Any, mesh: Mesh) -> Any:
    """Optimizer state placed like the parameters it mirrors; counters and scalars replicated."""
    abstract_state = jax.eval_shape(tx.init, params)
    repl = mesh_lib.replicated(mesh)
    return optax.tree_map_params(
        tx,
        lambda _p, sharding: sharding,
        abstract_state,
        param_shardings,
        transform_non_params=lambda _leaf: repl,
        is_leaf=lambda x: isinstance(x, NamedSharding),
    )


@dataclass
class Teacher:
    """A frozen model whose logits the training loss reads (distillation): its graph and shardings, and its
    parameters, already placed. It is an argument of the jitted step, never donated and never updated."""

    model: ModelState
    params: Any


@dataclass
class Steps:
    """The compiled-on-first-use step functions and the shardings they were built with."""

    train_step: Callable[[Any, Any, jax.Array], tuple[Any, Any, dict[str, jax.Array]]]
    eval_step: Callable[[Any, jax.Array], jax.Array]
    init_opt: Callable[[Any], Any]
    batch_sharding: NamedSharding
    val_sharding: NamedSharding


def build_steps(
    model: ModelState,
    tx: optax.GradientTransformation,
    mesh: Mesh,
    params: Any,
    batch_size: int,
    grad_accum: int,
    *,
    loss: LossFn | None = None,
    teacher: Teacher | None = None,
    param_transform: Callable[[Any], Any] | None = None,
) -> Steps:
    """jit the train and eval steps with explicit in/out shardings (what pjit became).

    Hooks (all optional; without them this is plain next-token training): `loss` replaces the training
    objective and receives the `teacher`'s logits for the same tokens (computed inside the step, no gradient);
    `param_transform` maps parameters before every forward pass, training and evaluation alike (QAT's
    straight-through fake quantization). Evaluation is always plain cross-entropy, so validation losses of
    hooked and plain runs compare directly.
    """
    micro = batch_size // grad_accum
    batch_sh = mesh_lib.batch_sharding(mesh, micro)
    micro_spec = jax.sharding.PartitionSpec(None, mesh_lib.RULES["batch"])
    opt_sh = opt_state_shardings(tx, params, model.param_shardings, mesh)
    repl = mesh_lib.replicated(mesh)

    forward_params = param_transform or (lambda p: p)
    objective = loss  # named apart from the step's local `loss` value below

    def eval_loss_fn(p: Any, batch_BxL1: jax.Array) -> jax.Array:
        return model.loss(forward_params(p), batch_BxL1[:, :-1], batch_BxL1[:, 1:])

    def train_loss_fn(p: Any, batch_BxL1: jax.Array, teacher_params: Any) -> jax.Array:
        if objective is None:
            return eval_loss_fn(p, batch_BxL1)
        logits_BxLxV = model.apply(forward_params(p), batch_BxL1[:, :-1])
        teacher_BxLxV = None
        if teacher is not None:
            teacher_BxLxV = jax.lax.stop_gradient(teacher.model.apply(teacher_params, batch_BxL1[:, :-1]))
        return objective(logits_BxLxV, batch_BxL1[:, 1:], teacher_BxLxV)

    def train_step(p: Any, opt_state: Any, batch_BxL1: jax.Array, teacher_params: Any = None
                   ) -> tuple[Any, Any, dict[str, jax.Array]]:
        loss_fn = lambda p_, b_: train_loss_fn(p_, b_, teacher_params)  # noqa: E731
        return apply_step(loss_fn, tx, p, opt_state, batch_BxL1, grad_accum, NamedSharding(mesh, micro_spec))

    def eval_step(p: Any, batches_NxBxL1: jax.Array) -> jax.Array:
        losses = jax.lax.map(lambda b: eval_loss_fn(p, b), batches_NxBxL1)
        return losses.mean()

    val_sh = NamedSharding(mesh, micro_spec)
    step_batch_sh = NamedSharding(mesh, jax.sharding.PartitionSpec(mesh_lib.RULES["batch"]))
    if teacher is None:
        jitted_step = jax.jit(
            train_step,
            in_shardings=(model.param_shardings, opt_sh, step_batch_sh),
            out_shardings=(model.param_shardings, opt_sh, repl),
            donate_argnums=(0, 1),
        )
    else:
        with_teacher = jax.jit(
            train_step,
            in_shardings=(model.param_shardings, opt_sh, step_batch_sh, teacher.model.param_shardings),
            out_shardings=(model.param_shardings, opt_sh, repl),
            donate_argnums=(0, 1),
        )

        def jitted_step(p: Any, opt_state: Any, batch_BxL1: jax.Array) -> tuple[Any, Any, dict[str, jax.Array]]:
            return with_teacher(p, opt_state, batch_BxL1, teacher.params)

    return Steps(
        train_step=jitted_step,
        eval_step=jax.jit(eval_step, in_shardings=(model.param_shardings, val_sh), out_shardings=repl),
        init_opt=jax.jit(tx.init, in_shardings=(model.param_shardings,), out_shardings=opt_sh),
        batch_sharding=batch_sh,
        val_sharding=val_sh,
    )
