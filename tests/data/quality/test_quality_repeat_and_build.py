"""data.unique_tokens counts epochs exactly; data.quality changes only the training split and its own cache key."""

from __future__ import annotations

import numpy as np
import pytest

from scaling.config import DataConfig, TrainConfig
from scaling.data import BatchLoader, load_dataset
from scaling.data.repeat import EpochPlan
from scaling.errors import UserError
from scaling.sweep.plan import planned_epochs, trial_id


def test_epochs_are_counted_exactly(data_cache, cfg):
    seq, batch, u = 32, 8, 32 * 40  # 40 windows: 5 batches per epoch
    ds = load_dataset(cfg("kjv", data_cache, seq_len=seq, unique_tokens=u))
    assert len(ds.train_tokens) == 40 * (seq + 1) and ds.unique_tokens == u
    loader = BatchLoader(ds.train_tokens, seq, batch, seed=7)
    assert loader.unique_tokens == u
    steps = 5 * 3  # exactly 3 epochs
    seen = np.concatenate([loader.window_ids(np.arange(s * batch, (s + 1) * batch)) for s in range(steps)])
    assert np.array_equal(np.bincount(seen, minlength=40), np.full(40, 3))
    assert loader.epochs_for(steps * batch * seq) == 3.0
    # the kept windows are the same whatever the training seed, and are real windows of the train split
    full = load_dataset(cfg("kjv", data_cache, seq_len=seq))
    starts = {bytes(full.train_tokens[i:i + seq + 1]) for i in range(0, len(full.train_tokens) - seq, seq + 1)}
    assert all(bytes(ds.train_tokens[i:i + seq + 1]) in starts for i in range(0, len(ds.train_tokens), seq + 1))
    assert ds.cache_path == full.cache_path  # a view: every U shares one tokenization


def test_planned_epochs_and_bad_unique_tokens(data_cache, cfg):
    train = TrainConfig(data={"unique_tokens": 1000, "seq_len": 100}, tokens=4500, batch_size=5)
    assert train.total_tokens == 4500
    assert planned_epochs(train) == 4.5 == EpochPlan(1000, 4500).epochs
    assert EpochPlan(1000, 4500).repeats == 3.5
    assert planned_epochs(TrainConfig(tokens=4500)) is None
    with pytest.raises(UserError, match="data.unique_tokens"):
        load_dataset(cfg("kjv", data_cache, seq_len=32, unique_tokens=10**9))


def test_default_fields_keep_trial_ids_and_cache_keys():
    plain = TrainConfig(tokens=1000)
    assert "quality" not in plain.data.model_dump(mode="json") and "unique_tokens" not in plain.data.model_dump()
    assert trial_id(plain) == trial_id(TrainConfig(tokens=1000, data={"quality": {"corruption_rate": 0.0}}))
    assert trial_id(plain) != trial_id(TrainConfig(tokens=1000, data={"quality": {"corruption_rate": 0.1}}))
    assert not DataConfig().quality.active and DataConfig(quality={"filters": "dedup"}).quality.active


def test_quality_changes_train_only_and_validation_stays_clean(data_cache, cfg, kjv_byte):
    q = {"corruption_rate": 0.25, "filters": ["language", "repeated_lines", "exact_dedup"], "seed": 0}
    ds = load_dataset(cfg("kjv", data_cache, quality=q))
    assert ds.cache_path != kjv_byte.cache_path
    assert np.array_equal(np.asarray(ds.val_tokens), np.asarray(kjv_byte.val_tokens))
    assert not np.array_equal(np.asarray(ds.train_tokens[:10000]), np.asarray(kjv_byte.train_tokens[:10000]))
    summary = ds.describe()["quality"]
    n_train = kjv_byte.meta["train_documents"]
    assert summary["documents_in"] == n_train
    assert summary["documents_kept"] == ds.meta["train_documents"] < n_train
    assert summary["recovery"]["random_bytes"] == 1.0 and summary["recovery"]["boilerplate"] == 1.0
    report = ds.meta["quality"]["report"]
    assert report["kinds_in"]["clean"] == n_train - round(0.25 * n_train)
