"""Device mesh from config, and the one table that maps parameters' logical axes to mesh axes.

Mesh axes are `data`, `fsdp` and `tensor`; a size of -1 takes the remaining devices. Parameters name their
dimensions (`embed`, `heads`, `mlp`, ...) and RULES decides where each goes, as in MaxText.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import jax
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

from scaling.config import MeshConfig
from scaling.errors import UserError

MESH_AXES = ("data", "fsdp", "tensor")

# logical axis -> mesh axes it is split over (None: replicated). The batch goes over data x fsdp (FSDP shards
# parameters over `fsdp` and gathers them per layer, so its devices still see distinct examples).
RULES: dict[str, str | tuple[str, ...] | None] = {
    "batch": ("data", "fsdp"),
    "embed": "fsdp",
    "heads": "tensor",
    "mlp": "tensor",
    "vocab": "tensor",
    "head_dim": None,
    "norm": None,
}
# Dimensions that may fall back to replication when they do not divide (the vocabulary is often odd-sized);
# any other non-dividing dimension is a configuration error.
_MAY_REPLICATE = {"vocab"}


def resolve_mesh_shape(cfg: MeshConfig, n_devices: int) -> tuple[int, int, int]:
    """Sizes of (data, fsdp, tensor) for `n_devices`, resolving a -1; an impossible request is a UserError.

    Fixed sizes may use fewer devices than there are (the first ones), as long as their product divides the count.
    """
    sizes = [cfg.data, cfg.fsdp, cfg.tensor]
    fixed = math.prod(s for s in sizes if s != -1)
    if -1 in sizes:
        if n_devices % fixed:
            raise UserError(
                f"mesh: fixed axes {dict(zip(MESH_AXES, sizes, strict=True))} multiply to {fixed}, "
                f"which does not divide the {n_devices} available devices"
            )
        sizes[sizes.index(-1)] = n_devices // fixed
    elif n_devices % fixed:
        raise UserError(
            f"mesh: data x fsdp x tensor = {fixed} does not divide the {n_devices} available devices; "
            "use sizes whose product divides the device count (or set one axis to -1 for the rest)"
        )
    return tuple(sizes)  # type: ignore[return-value]


def make_mesh(cfg: MeshConfig, devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A (data, fsdp, tensor) mesh over `devices` (default: all), with auto axis types for explicit placement."""
    devices = list(devices if devices is not None else jax.devices())
    shape = resolve_mesh_shape(cfg, len(devices))
    devices = devices[: math.prod(shape)]
    return jax.make_mesh(
        shape, MESH_AXES, axis_types=(AxisType.Auto,) * len(MESH_AXES), devices=devices
    )


def logical_to_spec(logical_axes: Sequence[str | None], shape: Sequence[int], mesh: Mesh, what: str) -> PartitionSpec:
    """The PartitionSpec for one array, checking that each sharded dimension divides its mesh axes."""
    spec: list[str | tuple[str, ...] | None] = []
    for name, dim in zip(logical_axes, shape, strict=True):
        target = RULES.get(name) if name is not None else None
        if name is not None and name not in RULES:
            raise ValueError(f"{what}: logical axis {name!r} has no rule in scaling.train.mesh.RULES")
        axes = (target,) if isinstance(target, str) else (target or ())
        ways = math.prod(mesh.shape[a] for a in axes)
        if ways > 1 and dim % ways:
            if name in _MAY_REPLICATE:
                target = None
            else:
                raise UserError(
                    f"mesh: {what} has {dim} along `{name}`, not divisible by mesh axes {axes} of size {ways}; "
                    f"choose mesh sizes that divide it"
                )
        spec.append(target if ways > 1 else None)
    return PartitionSpec(*spec)


def batch_sharding(mesh: Mesh, batch_size: int) -> NamedSharding:
    """Batches `[B, ...]` split over data x fsdp; B must divide."""
    ways = mesh.shape["data"] * mesh.shape["fsdp"]
    if batch_size % ways:
        raise UserError(
            f"batch_size {batch_size} (per micro-batch) is not divisible by data x fsdp = {ways} devices; "
            f"use a multiple of {ways}"
        )
    return NamedSharding(mesh, PartitionSpec(RULES["batch"]))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


_distributed_started = False
DISTRIBUTED_ENV = "SCALING_DISTRIBUTED"  # "1": call jax.distributed.initialize() whatever the environment says


def distributed_environment() -> str | None:
    """Which multi-process launch this process is part of, from the environment alone (no JAX call): an explicit
    coordinator, SLURM with several tasks, Open MPI with several ranks, a multi-host TPU slice; None for one."""
    env = os.environ
    if env.get(DISTRIBUTED_ENV, "") not in ("", "0") or "JAX_COORDINATOR_ADDRESS" in env:
        return "explicit"
    if int(env.get("SLURM_NTASKS", env.get("SLURM_NPROCS", "1"))) > 1:
        return "slurm"
    if int(env.get("OMPI_COMM_WORLD_SIZE", "1")) > 1:
        return "openmpi"
    hosts = env.get("TPU_PROCESS_ADDRESSES") or env.get("TPU_WORKER_HOSTNAMES") or ""
    if len([h for h in hosts.split(",") if h.strip()]) > 1 or int(env.get("MEGASCALE_NUM_SLICES", "1")) > 1:
        return "tpu-pod"
    return None


def maybe_initialize_distributed() -> bool:
    """Join a multi-host job when the environment describes one (`distributed_environment`); True when joined.

    Must run before anything counts devices or computes: planning and the runner call it first.
    `jax.distributed.initialize()` detects SLURM, Open MPI and Cloud TPU itself; an explicit launch sets
    JAX_COORDINATOR_ADDRESS (which JAX reads) and JAX_NUM_PROCESSES and JAX_PROCESS_ID (which JAX does not:
    they are passed on here).
    """
    global _distributed_started
    if _distributed_started:
        return True
    if distributed_environment() is not None:
        count, index = os.environ.get("JAX_NUM_PROCESSES"), os.environ.get("JAX_PROCESS_ID")
        jax.distributed.initialize(num_processes=int(count) if count else None,
                                   process_id=int(index) if index else None)
        _distributed_started = True
    return _distributed_started
