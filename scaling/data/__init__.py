"""Data layer: corpora, tokenizers, the token cache and the deterministic batch loader.

    ds = load_dataset(data_cfg)                     # tokenized once, memory-mapped afterwards
    loader = BatchLoader(ds.train_tokens, seq_len, batch_size, seed)
    tokens_BxL1 = loader.batch(step)                # int32 [batch_size, seq_len + 1]
    val_NxBxL1 = ds.val_batches(n, batch_size, seq_len)
"""

from scaling.data.dataset import TokenDataset, load_dataset
from scaling.data.loader import BatchLoader
from scaling.data.stats import unigram_entropy
from scaling.data.tokenizer import EOD, BPETokenizer, ByteTokenizer

__all__ = ["EOD", "BPETokenizer", "BatchLoader", "ByteTokenizer", "TokenDataset", "load_dataset", "unigram_entropy"]
