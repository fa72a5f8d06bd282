"""`hf:NAME[:CONFIG][#field]`: a Hugging Face dataset's `train` split, through the optional `datasets` extra."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from scaling.data.corpus import Corpus
from scaling.errors import UserError


class HuggingFace(Corpus):
    """Rows of a hub dataset (downloaded and cached by `datasets`); each row's `field` (default `text`) a document.

    Our own hash split applies on top, so the dataset's `train` split is the only one read.
    """

    def __init__(self, spec: str, name: str, config: str | None = None, field: str = "text"):
        self.spec, self.name, self.config, self.field = spec, name, config, field or "text"
        self._dataset: Any = None

    def dataset(self) -> Any:
        """The loaded `datasets.Dataset`, memoized; UserErrors for a missing extra, dataset or field."""
        if self._dataset is not None:
            return self._dataset
        try:
            import datasets
        except ImportError:
            raise UserError(
                f"corpus {self.spec!r} needs the optional `datasets` package: pip install 'scaling[datasets]' "
                "(or use a local text:/jsonl:/parquet: corpus)"
            ) from None
        try:
            ds = datasets.load_dataset(self.name, self.config, split="train")
        except Exception as exc:  # datasets raises many types for 'not found' and 'offline'
            raise UserError(f"corpus {self.spec!r}: could not load {self.name!r} from the hub: {exc}") from None
        if self.field not in ds.column_names:
            raise UserError(
                f"corpus {self.spec!r}: dataset {self.name!r} has no field {self.field!r}; "
                f"its fields: {', '.join(ds.column_names)} (pick one with hf:{self.name}#FIELD)"
            )
        self._dataset = ds
        return ds

    def fingerprint(self) -> str:
        ds = self.dataset()
        return f"hf-v1:{self.name}:{self.config}:{self.field}:{getattr(ds, '_fingerprint', len(ds))}"

    def iter_texts(self) -> Iterator[str]:
        for row in self.dataset().select_columns([self.field]):
            value = row[self.field]
            if isinstance(value, str):
                yield value
