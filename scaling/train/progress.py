"""Progress of a long loop: a rich bar with ETA on a terminal, plain log lines elsewhere (CI, files)."""

from __future__ import annotations

import sys
import time


class Progress:
    """Shows step/total, the latest losses and the rate; `enabled=None` means 'a bar if stderr is a terminal'."""

    def __init__(self, total: int, start: int = 0, *, label: str = "", enabled: bool | None = None,
                 every_s: float = 10.0) -> None:
        self.total, self.label, self.every_s = total, label, every_s
        self._last_print = 0.0
        self._bar = None
        interactive = sys.stderr.isatty() if enabled is None else enabled
        if interactive:
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                TextColumn("{task.fields[losses]}"), transient=False,
            )
            self._task = self._bar.add_task(label, total=total, completed=start, losses="")
            self._bar.start()

    def update(self, step: int, train_loss: float, val_loss: float | None) -> None:
        losses = f"loss {train_loss:.4f}" + (f"  val {val_loss:.4f}" if val_loss is not None else "")
        if self._bar is not None:
            self._bar.update(self._task, completed=step, losses=losses)
            return
        now = time.monotonic()
        if now - self._last_print >= self.every_s or step == self.total:
            self._last_print = now
            print(f"[{self.label}] step {step}/{self.total}  {losses}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
