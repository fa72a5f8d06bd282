"""Training over 8 (fake CPU) devices matches one device: data, FSDP and tensor parallel meshes."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from scaling.train.loop import train
from scaling.train.metrics import JsonlSink, read_jsonl

from trainutil import tiny_config


def losses(tmp_path, name, mesh, devices) -> np.ndarray:
    sink = JsonlSink(tmp_path / name / "m.jsonl")
    cfg = tiny_config(steps=5, mesh=mesh, **{"checkpoint.enabled": False, "eval.every_steps": 100})
    result = train(cfg, tmp_path / name, sinks=[sink], devices=devices, show_progress=False)
    sink.close()
    rows = read_jsonl(tmp_path / name / "m.jsonl")
    return np.array([r["train_loss"] for r in rows if "train_loss" in r] + [result.val_loss])


@pytest.fixture(scope="module")
def single_device_losses(tmp_path_factory):
    return losses(tmp_path_factory.mktemp("one"), "one", {"data": 1}, jax.devices()[:1])


@pytest.mark.parametrize("mesh", [(8, 1, 1), (2, 2, 2), (1, 2, 4)], ids=lambda m: "x".join(map(str, m)))
def test_mesh_matches_single_device(tmp_path, single_device_losses, mesh):
    assert jax.device_count() >= 8, "tests/conftest.py asks for 8 fake CPU devices"
    data, fsdp, tensor = mesh
    sharded = losses(tmp_path, "mesh", {"data": data, "fsdp": fsdp, "tensor": tensor}, jax.devices()[:8])
    np.testing.assert_allclose(sharded, single_device_losses, atol=1e-5, rtol=0)


def test_parameters_really_are_sharded():
    from scaling.config import MeshConfig, ModelConfig
    from scaling.train.mesh import make_mesh
    from scaling.train.step import init_model

    mesh = make_mesh(MeshConfig(data=2, fsdp=2, tensor=2), jax.devices()[:8])
    model, params = init_model(ModelConfig(size="xs", vocab_size=257), mesh, seed=0)
    specs = {str(leaf.sharding.spec) for leaf in jax.tree.leaves(params)}
    assert any("tensor" in s for s in specs) and any("fsdp" in s for s in specs)
    sizes = {leaf.addressable_shards[0].data.size < leaf.size for leaf in jax.tree.leaves(params) if leaf.ndim >= 2}
    assert True in sizes  # at least one matrix is split, so no device holds all of it
