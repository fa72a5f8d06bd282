"""Packed step functions: M models of one shape trained as one vmapped program, each with its own seed, data
order and peak learning rate.

Every parameter and optimizer-state array gains a leading member axis M (unsharded; the member's own axes keep
their placement from the rules table). A member's slice is exactly a separate run's state, so each member
checkpoints, resumes and can even continue alone as an ordinary run. The optimizer carries the schedule's shape
(peak lr 1) and each member's updates are multiplied by its own peak lr, which is the same arithmetic as a
separate run (every schedule here is linear in its peak).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from scaling.train import mesh as mesh_lib
from scaling.train.step import ModelState, apply_step, opt_state_shardings


def stacked(sharding: NamedSharding) -> NamedSharding:
    """The placement of a member-stacked array: the member axis unsharded in front of the member's own."""
    return NamedSharding(sharding.mesh, PartitionSpec(None, *sharding.spec))


@dataclass
class PackedSteps:
    """Compiled-on-first-use packed functions, the shardings they use, and stack/take between members and packs."""

    train_step: Callable[[Any, Any, jax.Array, jax.Array], tuple[Any, Any, dict[str, jax.Array]]]
    eval_step: Callable[[Any, jax.Array], jax.Array]
    init_opt: Callable[[Any], Any]
    stack: Callable[[list[Any]], Any]
    take: Callable[[Any, int], Any]
    batch_sharding: NamedSharding
    val_sharding: NamedSharding
    member_sharding: NamedSharding


def build_packed_steps(
    model: ModelState, tx: optax.GradientTransformation, mesh: Mesh, member_params: Any, batch_size: int,
    grad_accum: int,
) -> PackedSteps:
    """jit the packed train and eval steps (vmap over the member axis) with explicit in/out shardings.

    `tx` must use the schedule's shape (peak lr 1); `train_step(params_M, opt_M, batch_MxBxL1, lr_M)` scales
    member m's updates by `lr_M[m]`. Evaluation reads one shared set of validation batches for every member.
    """
    micro = batch_size // grad_accum
    member_opt = opt_state_shardings(tx, member_params, model.param_shardings, mesh)
    is_sharding = lambda x: isinstance(x, NamedSharding)  # noqa: E731
    params_sh = jax.tree.map(stacked, model.param_shardings, is_leaf=is_sharding)
    opt_sh = jax.tree.map(stacked, member_opt, is_leaf=is_sharding)
    member_axis = NamedSharding(mesh, PartitionSpec(None))
    batch_axis = mesh_lib.batch_sharding(mesh, micro).spec
    batch_sh = NamedSharding(mesh, PartitionSpec(None, *batch_axis))
    val_sh = NamedSharding(mesh, PartitionSpec(None, mesh_lib.RULES["batch"]))

    def member_loss(p: Any, batch_BxL1: jax.Array) -> jax.Array:
        return model.loss(p, batch_BxL1[:, :-1], batch_BxL1[:, 1:])

    def member_step(p: Any, opt_state: Any, batch_BxL1: jax.Array, lr: jax.Array):
        # no micro-batch sharding constraint inside vmap: the packed batch's placement already fixes it
        return apply_step(member_loss, tx, p, opt_state, batch_BxL1, grad_accum, None, lr_scale=lr)

    def member_eval(p: Any, batches_NxBxL1: jax.Array) -> jax.Array:
        return jax.lax.map(lambda b: member_loss(p, b), batches_NxBxL1).mean()

    train_step = jax.jit(
        jax.vmap(member_step),
        in_shardings=(params_sh, opt_sh, batch_sh, member_axis),
        out_shardings=(params_sh, opt_sh, member_axis),
        donate_argnums=(0, 1),
    )
    eval_step = jax.jit(jax.vmap(member_eval, in_axes=(0, None)), in_shardings=(params_sh, val_sh),
                        out_shardings=member_axis)
    init_opt = jax.jit(jax.vmap(tx.init), in_shardings=(params_sh,), out_shardings=opt_sh)
    member_sh = {"params": model.param_shardings, "opt_state": member_opt}
    stacked_sh = {"params": params_sh, "opt_state": opt_sh}

    @jax.jit
    def _stack(trees: list[Any]) -> Any:
        return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)

    def stack(trees: list[Any]) -> Any:
        """Members' {"params"[, "opt_state"]} trees -> one stacked tree, placed for the packed step."""
        return jax.device_put(_stack(trees), {key: stacked_sh[key] for key in trees[0]})

    take_one = jax.jit(lambda tree, m: jax.tree.map(lambda x: jax.lax.dynamic_index_in_dim(x, m, keepdims=False),
                                                    tree), out_shardings=member_sh)

    def take(tree: Any, m: int) -> Any:
        """Member m's {"params", "opt_state"}, placed as a separate run's (what its checkpoint holds)."""
        return take_one(tree, jnp.int32(m))

    return PackedSteps(train_step, eval_step, init_opt, stack, take, batch_sh, val_sh, member_axis)
