"""Mesh sizes (-1 = the rest), impossible meshes as user errors, and the logical-axis rules table."""

import jax
import pytest
from jax.sharding import PartitionSpec

from scaling.config import MeshConfig
from scaling.errors import UserError
from scaling.train.mesh import logical_to_spec, make_mesh, resolve_mesh_shape


@pytest.mark.parametrize(
    ("cfg", "n", "shape"),
    [(MeshConfig(), 8, (8, 1, 1)), (MeshConfig(data=-1, tensor=2), 8, (4, 1, 2)), (MeshConfig(data=2, fsdp=2,
     tensor=2), 8, (2, 2, 2)), (MeshConfig(data=1, fsdp=-1, tensor=4), 8, (1, 2, 4)), (MeshConfig(), 1, (1, 1, 1))],
)
def test_resolve(cfg, n, shape):
    assert resolve_mesh_shape(cfg, n) == shape


@pytest.mark.parametrize("cfg", [MeshConfig(data=3), MeshConfig(data=-1, tensor=3), MeshConfig(data=4, fsdp=4)])
def test_impossible_mesh_is_a_user_error(cfg):
    with pytest.raises(UserError, match="mesh"):
        resolve_mesh_shape(cfg, 8)


def test_two_rest_axes_rejected_by_schema():
    with pytest.raises(ValueError, match="at most one"):
        MeshConfig(data=-1, fsdp=-1)


def test_rules_map_logical_axes():
    mesh = make_mesh(MeshConfig(data=2, fsdp=2, tensor=2), jax.devices()[:8])
    assert logical_to_spec(("embed", "mlp"), (64, 256), mesh, "w") == PartitionSpec("fsdp", "tensor")
    assert logical_to_spec(("norm",), (64,), mesh, "scale") == PartitionSpec(None)
    # an odd vocabulary falls back to replication; heads that do not divide are an error
    assert logical_to_spec(("vocab", "embed"), (257, 64), mesh, "emb") == PartitionSpec(None, "fsdp")
    with pytest.raises(UserError, match="heads"):
        logical_to_spec(("embed", "heads", "head_dim"), (64, 3, 16), mesh, "wq")
