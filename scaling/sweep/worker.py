"""A sweep worker as its own process: `python -m scaling.sweep.worker RUN_DIR` claims and runs trials.

Exit codes: 0 nothing left for it, 1 some trial failed, 2 a user error, 130 stopped or aborted (its trial
released; see `scaling.train.signals`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scaling.errors import UserError
from scaling.train.signals import ABORT_EXIT_CODE, stop_on_signals

INTERRUPTED = ABORT_EXIT_CODE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--max-attempts", type=int, default=2)
    parser.add_argument("--stale-after-s", type=float, default=120.0)
    parser.add_argument("--pack", type=int, default=1, help="trials of one shape trained together")
    parser.add_argument("--from-parent", action="store_true",
                        help="started by the processes executor: it forwards a stop as SIGTERM, an abort as SIGINT")
    args = parser.parse_args(argv)
    stop = stop_on_signals(sigterm_aborts=not args.from_parent, quiet=args.from_parent)
    try:
        from scaling.sweep.runner import train_worker

        report = train_worker(args.run_dir, max_attempts=args.max_attempts, stale_s=args.stale_after_s,
                              stop=stop, show_progress=False, pack=args.pack)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return UserError.exit_code
    if report.interrupted:
        return INTERRUPTED
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
