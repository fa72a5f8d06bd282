"""Where a run's metrics go: JSON lines and TensorBoard events here; the sweep store adds its own sink.

Rows are `(step, tokens, flops, {name: value})`; the store flattens them into long format. A resumed run first
drops whatever was logged after the checkpoint it resumed from, so no step appears twice. A sink may buffer
rows; `flush` makes them durable, and the loop calls it before every checkpoint and when it ends, so a
checkpoint never claims steps whose rows could still be lost.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Protocol


class MetricSink(Protocol):
    """Where the loop sends rows: `log` may buffer, `flush` writes what is buffered, `close` flushes and ends."""

    def log(self, step: int, tokens: int, flops: float, values: dict[str, float]) -> None: ...

    def truncate_after(self, step: int) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class JsonlSink:
    """One JSON object per logged step, appended and flushed; truncation rewrites the file atomically."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = None

    def _open(self):
        if self._file is None:
            self._file = self.path.open("a")
        return self._file

    def log(self, step: int, tokens: int, flops: float, values: dict[str, float]) -> None:
        f = self._open()
        f.write(json.dumps({"step": step, "tokens": tokens, "flops": flops, **values}) + "\n")
        f.flush()

    def truncate_after(self, step: int) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if not self.path.exists():
            return
        kept = [line for line in read_jsonl(self.path) if line["step"] <= step]
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(row) + "\n" for row in kept))
        os.replace(tmp, self.path)

    def flush(self) -> None:
        """Every line is flushed as it is written (a logged row is one write), so there is nothing left here."""
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_jsonl(path: Path) -> list[dict]:
    """Rows of a metrics file; a torn last line (a killed writer) is ignored."""
    rows = []
    for line in Path(path).read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


class TensorBoardSink:
    """TensorBoard scalars via tensorboardX; on resume, events after the checkpoint are purged."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = Path(logdir)
        self._writer = None
        self._purge_step: int | None = None

    def _open(self):
        if self._writer is None:
            from tensorboardX import SummaryWriter

            self._writer = SummaryWriter(str(self.logdir), purge_step=self._purge_step)
        return self._writer

    def log(self, step: int, tokens: int, flops: float, values: dict[str, float]) -> None:
        writer = self._open()
        for name, value in values.items():
            writer.add_scalar(name, value, global_step=step)

    def truncate_after(self, step: int) -> None:
        self._purge_step = step + 1

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
