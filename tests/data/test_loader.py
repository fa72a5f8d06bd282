"""The loader: batches are a pure function of (seed, step), epochs are exact, shards tile the global batch."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from scaling.data import BatchLoader, unigram_entropy
from scaling.errors import UserError

TOKENS = np.arange(10_000, dtype=np.uint16) % 5000


def test_same_seed_and_step_same_batch_across_loaders():
    a, b = BatchLoader(TOKENS, 16, 8, seed=3), BatchLoader(TOKENS, 16, 8, seed=3)
    batch = a.batch(7)
    assert batch.shape == (8, 17) and batch.dtype == np.int32
    assert np.array_equal(batch, b.batch(7))
    assert np.array_equal(a.batch(100), BatchLoader(TOKENS, 16, 8, seed=3).batch(100))  # resume at step 100
    assert not np.array_equal(batch, BatchLoader(TOKENS, 16, 8, seed=4).batch(7))
    assert not np.array_equal(batch, a.batch(8))


def test_windows_are_contiguous_next_token_pairs():
    batch = BatchLoader(np.arange(1000, dtype=np.uint16), 9, 4, seed=0).batch(0)
    assert (np.diff(batch, axis=1) == 1).all() and (batch[:, 0] % 10 == 0).all()


def test_same_batch_in_another_process(kjv_byte):
    here = BatchLoader(kjv_byte.train_tokens, 64, 4, seed=11).batch(123)
    code = (
        "import sys, numpy as np; from scaling.data import load_dataset, BatchLoader; "
        "from scaling.config import DataConfig; "
        f"ds = load_dataset(DataConfig(corpus=['kjv'], cache_dir={str(kjv_byte.cache_path.parents[1])!r})); "
        "sys.stdout.write(BatchLoader(ds.train_tokens, 64, 4, seed=11).batch(123).tobytes().hex())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert bytes.fromhex(out) == here.tobytes()


def test_one_epoch_visits_every_window_exactly_once():
    loader = BatchLoader(np.arange(53 * 10 + 7, dtype=np.uint32), 9, 5, seed=1)  # 53 windows, 7 left over
    assert loader.n_windows == 53
    steps = np.concatenate([loader.batch(s) for s in range(53)])  # 265 samples = 5 epochs exactly
    starts = steps[:, 0] // 10
    for epoch in range(5):
        assert sorted(starts[epoch * 53:(epoch + 1) * 53]) == list(range(53))
    assert not np.array_equal(starts[:53], starts[53:106])  # each epoch has its own order
    assert loader.unique_tokens == 53 * 9 and loader.epochs_for(53 * 9 * 5) == pytest.approx(5.0)


def test_epoch_order_does_not_depend_on_batch_size():
    a = np.concatenate([BatchLoader(TOKENS, 16, 4, seed=2).batch(s) for s in range(6)])
    b = np.concatenate([BatchLoader(TOKENS, 16, 8, seed=2).batch(s) for s in range(3)])
    assert np.array_equal(a, b)


@pytest.mark.parametrize("num_shards", [1, 2, 4, 8])
def test_shards_concatenate_to_the_global_batch(num_shards: int):
    loader = BatchLoader(TOKENS, 16, 8, seed=5)
    for step in (0, 3, 70):  # 70 crosses into a later epoch
        shards = [loader.batch(step, shard=k, num_shards=num_shards) for k in range(num_shards)]
        assert np.array_equal(np.concatenate(shards), loader.batch(step))


def test_uneven_shards_and_too_small_corpora_are_user_errors():
    with pytest.raises(UserError, match="batch_size 8 does not split evenly over 3 hosts"):
        BatchLoader(TOKENS, 16, 8).batch(0, shard=0, num_shards=3)
    with pytest.raises(UserError, match=r"train split has 100 tokens, 0 windows of seq_len\+1 = 129.*smaller"):
        BatchLoader(TOKENS[:100], 128, 4)
    with pytest.raises(UserError, match=r"3 windows.*one batch needs 4 window"):
        BatchLoader(TOKENS[:3 * 129], 128, 4)


def test_val_batches_are_fixed(kjv_byte):
    val = kjv_byte.val_batches(3, 4, 32)
    assert val.shape == (3, 4, 33) and val.dtype == np.int32
    assert np.array_equal(val, kjv_byte.val_batches(3, 4, 32))
    big = kjv_byte.val_batches(2, 64, 2048)  # more rows than the split has windows: it cycles
    assert big.shape == (2, 64, 2049)


def test_unigram_entropy():
    assert unigram_entropy(np.zeros(100, np.uint16), 257) == 0.0
    assert unigram_entropy(np.arange(256, dtype=np.uint16), 257) == pytest.approx(np.log(256))
    assert unigram_entropy(np.array([0, 0, 1, 1], np.uint16), 4) == pytest.approx(np.log(2))


def test_kjv_entropy_and_epochs(kjv_byte, kjv_bpe):
    h_byte = unigram_entropy(kjv_byte.train_tokens, kjv_byte.vocab_size)
    h_bpe = unigram_entropy(kjv_bpe.train_tokens, kjv_bpe.vocab_size)
    assert 2.9 < h_byte < 3.2 and h_bpe > h_byte
    loader = BatchLoader(kjv_byte.train_tokens, 128, 32, seed=0)
    assert loader.epochs_for(loader.unique_tokens * 2) == pytest.approx(2.0)
    assert abs(loader.unique_tokens - len(kjv_byte.train_tokens)) < 0.01 * len(kjv_byte.train_tokens)
