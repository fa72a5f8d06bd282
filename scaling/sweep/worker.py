"""A sweep worker as its own process: `python -m scaling.sweep.worker RUN_DIR` claims and runs trials."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scaling.errors import UserError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--max-attempts", type=int, default=2)
    parser.add_argument("--stale-after-s", type=float, default=120.0)
    args = parser.parse_args(argv)
    from scaling.sweep.runner import train_worker
    from scaling.train.run import stop_on_sigint

    try:
        report = train_worker(args.run_dir, max_attempts=args.max_attempts, stale_s=args.stale_after_s,
                              stop=stop_on_sigint(), show_progress=False)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return UserError.exit_code
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
