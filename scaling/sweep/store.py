"""The sweep's embedded store: one SQLite file in WAL mode holding trials, long-format metrics, fits, artifacts.

SQLite in WAL mode takes many writer processes without losing a write (measured: 16), needs no server, and
one file per sweep is easy to copy. Claims use `BEGIN IMMEDIATE`, so two workers never take the same trial.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scaling.errors import UserError

SCHEMA = """
CREATE TABLE IF NOT EXISTS trials (
    id TEXT PRIMARY KEY,
    ord INTEGER NOT NULL,
    kind TEXT NOT NULL DEFAULT 'train',
    label TEXT NOT NULL,
    config TEXT NOT NULL,
    axes TEXT NOT NULL DEFAULT '{}',
    parent TEXT,
    branch_step INTEGER,
    status TEXT NOT NULL DEFAULT 'queued',
    attempt INTEGER NOT NULL DEFAULT 0,
    worker TEXT,
    heartbeat REAL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    params_total INTEGER,
    params_embedding INTEGER,
    params_non_embedding INTEGER,
    tokens INTEGER,
    flops_6n REAL,
    flops_exact REAL,
    train_loss REAL,
    val_loss REAL,
    error TEXT,
    result TEXT
);
CREATE TABLE IF NOT EXISTS metrics (
    trial TEXT NOT NULL,
    step INTEGER NOT NULL,
    tokens INTEGER NOT NULL,
    flops REAL NOT NULL,
    name TEXT NOT NULL,
    value REAL,
    PRIMARY KEY (trial, name, step)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    stage TEXT NOT NULL,
    law TEXT NOT NULL,
    created REAL NOT NULL,
    result TEXT NOT NULL,
    version INTEGER,
    settings TEXT,
    inputs TEXT
);
CREATE TABLE IF NOT EXISTS fit_reports (
    version INTEGER PRIMARY KEY,
    stage TEXT NOT NULL,
    created REAL NOT NULL,
    settings TEXT NOT NULL,
    inputs TEXT NOT NULL,
    report TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS retired (
    trial TEXT PRIMARY KEY,
    status_before TEXT NOT NULL,
    since REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS artifacts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    trial TEXT,
    kind TEXT NOT NULL,
    path TEXT NOT NULL,
    created REAL NOT NULL,
    UNIQUE (trial, kind, path)
);
"""

STORE_NAME = "store.sqlite"
# Columns added to `fits` after stores were first written: (name, SQL type); `Store` adds them to older stores.
FITS_MIGRATIONS = (("version", "INTEGER"), ("settings", "TEXT"), ("inputs", "TEXT"))
# SQLite error names that mean the file itself cannot serve as a store (as opposed to a busy or locked one).
UNUSABLE_FILE_ERRORS = {
    "SQLITE_NOTADB": "is not an SQLite database",
    "SQLITE_CORRUPT": "is damaged (database disk image is malformed)",
    "SQLITE_CANTOPEN": "cannot be opened",
    "SQLITE_READONLY": "is read-only",
    "SQLITE_PERM": "is not accessible (permission denied)",
    "SQLITE_IOERR": "cannot be read or written (I/O error)",
}
STATUSES = ("queued", "running", "done", "failed", "diverged")
TRIAL_COLUMNS = (
    "id", "ord", "kind", "label", "config", "axes", "parent", "branch_step", "status", "attempt", "worker",
    "heartbeat", "created", "started", "finished", "params_total", "params_embedding", "params_non_embedding",
    "tokens", "flops_6n", "flops_exact", "train_loss", "val_loss", "error", "result",
)


def worker_id() -> str:
    """host:pid, so a crashed worker on this host can be recognised at once (its pid is gone)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _worker_alive(worker: str | None) -> bool:
    """False when `worker` ran on this host and its process no longer exists; unknown hosts count as alive."""
    if not worker or ":" not in worker:
        return False
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError):
        return False
    except PermissionError:
        return True
    return True


def release_abandoned(path: Path, trial_id: str, worker: str, timeout_s: float = 1.0) -> bool:
    """Give `trial_id` back if `worker` still holds it, on a connection of its own that waits at most
    `timeout_s` for the write lock (an aborting process must not wait on itself). True when released."""
    try:
        conn = sqlite3.connect(path, timeout=timeout_s, isolation_level=None)
        try:
            cur = conn.execute(
                "UPDATE trials SET status = 'queued', worker = NULL, attempt = MAX(attempt - 1, 0)"
                " WHERE id = ? AND worker = ? AND status = 'running'",
                (trial_id, worker),
            )
            return cur.rowcount == 1
        finally:
            conn.close()
    except sqlite3.Error:
        return False


@dataclass
class TrialRow:
    """One row of `trials`, with the config decoded."""

    id: str
    ord: int
    kind: str
    label: str
    config: dict[str, Any]
    axes: dict[str, Any]
    parent: str | None
    branch_step: int | None
    status: str
    attempt: int
    worker: str | None
    heartbeat: float | None
    created: float
    started: float | None
    finished: float | None
    params_total: int | None
    params_embedding: int | None
    params_non_embedding: int | None
    tokens: int | None
    flops_6n: float | None
    flops_exact: float | None
    train_loss: float | None
    val_loss: float | None
    error: str | None
    result: dict[str, Any] | None

    @classmethod
    def from_sql(cls, row: sqlite3.Row) -> TrialRow:
        data = dict(row)
        data["config"] = json.loads(data["config"])
        data["axes"] = json.loads(data["axes"] or "{}")
        data["result"] = json.loads(data["result"]) if data["result"] else None
        return cls(**data)


class Store:
    """A sweep's SQLite store. Each process opens its own connection; all writes are short transactions."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        """Open (or, with `create`, make) the store at `path`; UserError naming the file when it is unusable.

        `create=False` is for readers (status, export, fit): a missing store is a UserError naming the
        directory, never a new empty store.
        """
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise UserError(f"{self.path.parent}: no sweep store here ({self.path.name}); "
                            "run `scaling run SWEEP.yaml` first")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None, check_same_thread=False)
        try:
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute("PRAGMA busy_timeout=60000")
            self.conn.executescript(SCHEMA)
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise _unusable(self.path, exc) from None

    def _migrate(self) -> None:
        """Bring an older store's tables up to SCHEMA (new `fits` columns); older rows read with NULLs there."""
        if not self._missing_fit_columns():
            return
        with self.transaction() as conn:  # re-read under the write lock: another process may have migrated
            for name, kind in self._missing_fit_columns():
                conn.execute(f"ALTER TABLE fits ADD COLUMN {name} {kind}")

    def _missing_fit_columns(self) -> list[tuple[str, str]]:
        have = {r["name"] for r in self.conn.execute("PRAGMA table_info(fits)")}
        return [(name, kind) for name, kind in FITS_MIGRATIONS if name not in have]

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self, immediate: bool = True) -> Iterator[sqlite3.Connection]:
        """A write transaction taken up front (IMMEDIATE), so read-then-write races cannot happen."""
        self.conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # ---- trials -------------------------------------------------------------------------------------------

    def add_trials(self, trials: Iterable[dict[str, Any]]) -> int:
        """Insert planned trials; ones already present (same id) are left as they are. Returns how many were new."""
        now = time.time()
        added = 0
        with self.transaction() as conn:
            for t in trials:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO trials (id, ord, kind, label, config, axes, parent, branch_step, created)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (t["id"], t["ord"], t.get("kind", "train"), t["label"], json.dumps(t["config"], sort_keys=True),
                     json.dumps(t.get("axes", {}), sort_keys=True), t.get("parent"), t.get("branch_step"), now),
                )
                added += cur.rowcount
        return added

    def trials(self, kind: str | None = None, status: str | None = None, *, retired: bool = False
               ) -> list[TrialRow]:
        """Trials in plan order; trials of an earlier version of the sweep (`retire_unplanned`) only when
        `retired` is True (status, export), so fits and figures see the current sweep alone."""
        query, args = _select("SELECT * FROM trials", kind=kind, status=status)
        if not retired:
            query += " AND id NOT IN (SELECT trial FROM retired)"
        return [TrialRow.from_sql(r) for r in self.conn.execute(query + " ORDER BY ord", args)]

    def retire_unplanned(self, kind: str, planned: Iterable[str]) -> tuple[list[str], list[str]]:
        """Make `planned` the current trials of `kind`: others are retired (kept, with their metrics, but out of
        fits, figures and the queue; an unfinished one is parked as status 'retired'), and planned ones retired
        earlier come back with the status they had. Returns (newly retired ids, restored ids)."""
        planned = set(planned)
        now = time.time()
        with self.transaction() as conn:
            rows = conn.execute("SELECT t.id, t.status, r.trial IS NOT NULL AS was_retired FROM trials t"
                                " LEFT JOIN retired r ON r.trial = t.id WHERE t.kind = ?", (kind,)).fetchall()
            retire = [r for r in rows if r["id"] not in planned and not r["was_retired"] and r["status"] != "running"]
            restore = [r["id"] for r in rows if r["id"] in planned and r["was_retired"]]
            for r in retire:
                conn.execute("INSERT INTO retired (trial, status_before, since) VALUES (?, ?, ?)",
                             (r["id"], r["status"], now))
                if r["status"] in ("queued", "failed"):
                    conn.execute("UPDATE trials SET status = 'retired' WHERE id = ?", (r["id"],))
            for tid in restore:
                before = conn.execute("SELECT status_before FROM retired WHERE trial = ?", (tid,)).fetchone()[0]
                conn.execute("UPDATE trials SET status = ? WHERE id = ? AND status = 'retired'", (before, tid))
                conn.execute("DELETE FROM retired WHERE trial = ?", (tid,))
        return [r["id"] for r in retire], restore

    def reset_failed(self, kind: str = "train") -> list[str]:
        """Give failed trials of the current sweep a fresh set of attempts (after the user fixed the cause)."""
        with self.transaction() as conn:
            ids = [r["id"] for r in conn.execute(
                "SELECT id FROM trials WHERE kind = ? AND status = 'failed'"
                " AND id NOT IN (SELECT trial FROM retired)", (kind,))]
            for tid in ids:
                conn.execute("UPDATE trials SET status = 'queued', attempt = 0, error = NULL, worker = NULL"
                             " WHERE id = ?", (tid,))
        return ids

    def trial(self, trial_id: str) -> TrialRow:
        row = self.conn.execute("SELECT * FROM trials WHERE id = ?", (trial_id,)).fetchone()
        if row is None:
            raise KeyError(trial_id)
        return TrialRow.from_sql(row)

    def claim(self, worker: str, *, kind: str | None = None, max_attempts: int = 2, stale_s: float = 120.0,
              match: Callable[[TrialRow], bool] | None = None) -> TrialRow | None:
        """Atomically take the next runnable trial: queued, failed with attempts left, or running but abandoned.

        A branch trial waits until its parent is done (its branch checkpoint exists by then). `match` limits
        the claim to trials it accepts (a packed worker's companions of one shape).
        """
        now = time.time()
        with self.transaction() as conn:
            rows = conn.execute(
                "SELECT t.* FROM trials t LEFT JOIN trials p ON t.parent = p.id"
                " WHERE (t.parent IS NULL OR p.status = 'done') AND (? IS NULL OR t.kind = ?)"
                " AND (t.status = 'queued' OR (t.status = 'failed' AND t.attempt < ?) OR t.status = 'running')"
                " ORDER BY t.ord",
                (kind, kind, max_attempts),
            ).fetchall()
            for row in rows:
                if row["status"] == "running":
                    stale = row["heartbeat"] is None or now - row["heartbeat"] > stale_s
                    if not (stale or not _worker_alive(row["worker"])):
                        continue
                if match is not None and not match(TrialRow.from_sql(row)):
                    continue
                conn.execute(
                    "UPDATE trials SET status = 'running', worker = ?, heartbeat = ?, started = COALESCE(started, ?),"
                    " attempt = attempt + 1, error = NULL WHERE id = ?",
                    (worker, now, now, row["id"]),
                )
                # a parent run again gives its blocked branches (failed unrun, attempt 0) their chance back
                conn.execute(
                    "UPDATE trials SET status = 'queued', error = NULL WHERE parent = ? AND status = 'failed'"
                    " AND attempt = 0",
                    (row["id"],),
                )
                return self.trial(row["id"])
        return None

    def pending(self, *, kind: str | None = None, max_attempts: int = 2) -> int:
        """Trials that may still run: queued, running, or failed with attempts left and not blocked.

        Queued branches of a parent that can no longer finish (diverged, or failed with no attempts left) are
        marked failed here, unrun (attempt 0), with the reason; they count as pending no more, so nothing waits
        forever, and `claim` queues them again if that parent is ever run again.
        """
        dead_parent = "SELECT id FROM trials WHERE status = 'diverged' OR (status = 'failed' AND attempt >= ?)"
        with self.transaction() as conn:
            conn.execute(
                "UPDATE trials SET status = 'failed', error = 'its WSD parent ' || parent || ' did not finish'"
                f" WHERE status = 'queued' AND parent IN ({dead_parent})",
                (max_attempts,),
            )
            row = conn.execute(
                "SELECT COUNT(*) FROM trials WHERE (? IS NULL OR kind = ?) AND (status IN ('queued', 'running')"
                f" OR (status = 'failed' AND attempt < ? AND (parent IS NULL OR parent NOT IN ({dead_parent}))))",
                (kind, kind, max_attempts, max_attempts),
            ).fetchone()
        return int(row[0])

    def heartbeat(self, trial_id: str, worker: str) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE trials SET heartbeat = ? WHERE id = ? AND worker = ?", (time.time(), trial_id, worker))

    def finish(self, trial_id: str, status: str, *, result: dict[str, Any] | None = None, error: str | None = None
               ) -> None:
        """Record how a trial ended, with its final numbers when it produced any."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        r = result or {}
        params, flops = r.get("params", {}), r.get("flops", {})
        with self.transaction() as conn:
            conn.execute(
                "UPDATE trials SET status = ?, finished = ?, heartbeat = ?, error = ?, result = ?,"
                " params_total = COALESCE(?, params_total), params_embedding = COALESCE(?, params_embedding),"
                " params_non_embedding = COALESCE(?, params_non_embedding), tokens = COALESCE(?, tokens),"
                " flops_6n = COALESCE(?, flops_6n), flops_exact = COALESCE(?, flops_exact),"
                " train_loss = COALESCE(?, train_loss), val_loss = COALESCE(?, val_loss) WHERE id = ?",
                (status, time.time(), time.time(), error, json.dumps(r, default=str) if r else None,
                 params.get("total"), params.get("embedding"), params.get("non_embedding"), r.get("tokens"),
                 flops.get("six_n"), flops.get("exact"), r.get("train_loss"), r.get("val_loss"), trial_id),
            )

    def release(self, trial_id: str) -> None:
        """Give a claimed trial back (a clean stop): queued again, its attempt not counted."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE trials SET status = 'queued', worker = NULL, attempt = MAX(attempt - 1, 0) WHERE id = ?",
                (trial_id,),
            )

    # ---- metrics ------------------------------------------------------------------------------------------

    def log_metrics(self, trial_id: str, step: int, tokens: int, flops: float, values: dict[str, float]) -> None:
        self.log_metric_rows([(trial_id, step, tokens, flops, name, float(v)) for name, v in values.items()])

    def log_metric_rows(self, rows: list[tuple[str, int, int, float, str, float]]) -> None:
        """Write long-format rows `(trial, step, tokens, flops, name, value)` in one transaction; a row whose
        (trial, name, step) exists replaces it, so a re-logged step never appears twice."""
        with self.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO metrics (trial, step, tokens, flops, name, value) VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )

    def delete_metrics_after(self, trial_id: str, step: int) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM metrics WHERE trial = ? AND step > ?", (trial_id, step))

    def copy_metrics(self, source: str, target: str, up_to_step: int) -> None:
        """Give a branch trial its parent's shared stable-phase curve, so every trial has a whole curve."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO metrics (trial, step, tokens, flops, name, value)"
                " SELECT ?, step, tokens, flops, name, value FROM metrics WHERE trial = ? AND step <= ?",
                (target, source, up_to_step),
            )

    def metrics(self, trial_id: str | None = None, name: str | None = None) -> list[dict[str, Any]]:
        query, args = _select("SELECT * FROM metrics", trial=trial_id, name=name)
        return [dict(r) for r in self.conn.execute(query + " ORDER BY trial, name, step", args)]

    def curve(self, trial_id: str, name: str = "train_loss") -> list[tuple[int, float]]:
        rows = self.conn.execute(
            "SELECT step, value FROM metrics WHERE trial = ? AND name = ? ORDER BY step", (trial_id, name)
        )
        return [(r["step"], r["value"]) for r in rows]

    # ---- fits and artifacts -------------------------------------------------------------------------------

    def add_fit(self, stage: str, law: str, result: dict[str, Any]) -> None:
        """One law's result outside any version (kept for callers that record a single law)."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO fits (stage, law, created, result) VALUES (?, ?, ?, ?)",
                (stage, law, time.time(), json.dumps(result, default=str)),
            )

    def add_fit_version(self, stage: str, report: dict[str, Any], laws: dict[str, dict[str, Any]], *,
                        settings: dict[str, Any], inputs: dict[str, Any]) -> int:
        """Record one fit (its whole report, and a `fits` row per law) as a new version; returns its number.

        Versions are never replaced: every fit stays retrievable with the settings and inputs that made it.
        """
        now, settings_json, inputs_json = time.time(), _dumps(settings), _dumps(inputs)
        with self.transaction() as conn:
            version = int(conn.execute("SELECT COALESCE(MAX(version), 0) + 1 FROM fit_reports").fetchone()[0])
            conn.execute(
                "INSERT INTO fit_reports (version, stage, created, settings, inputs, report) VALUES (?, ?, ?, ?, ?, ?)",
                (version, stage, now, settings_json, inputs_json, _dumps(report)),
            )
            conn.executemany(
                "INSERT INTO fits (stage, law, created, result, version, settings, inputs)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(stage, law, now, _dumps(result), version, settings_json, inputs_json)
                 for law, result in laws.items()],
            )
        return version

    def fit_versions(self, stage: str | None = None) -> list[dict[str, Any]]:
        """Every recorded fit version, oldest first: version, stage, created, settings, inputs, laws (no report)."""
        query, args = _select("SELECT version, stage, created, settings, inputs FROM fit_reports", stage=stage)
        out = []
        for r in self.conn.execute(query + " ORDER BY version", args):
            laws = [x["law"] for x in self.conn.execute("SELECT law FROM fits WHERE version = ? ORDER BY id",
                                                        (r["version"],))]
            out.append({**dict(r), "settings": json.loads(r["settings"]), "inputs": json.loads(r["inputs"]),
                        "laws": laws})
        return out

    def fit_report(self, version: int | None = None, stage: str | None = None) -> dict[str, Any] | None:
        """The whole report of fit `version` (the latest when None) as written to fit.json, or None if absent."""
        query, args = _select("SELECT report FROM fit_reports", version=version, stage=stage)
        row = self.conn.execute(query + " ORDER BY version DESC LIMIT 1", args).fetchone()
        return None if row is None else json.loads(row["report"])

    def fits(self, stage: str | None = None, version: int | None = None) -> list[dict[str, Any]]:
        """Per-law fit rows, oldest first, with their version, settings and inputs (None for pre-version rows)."""
        query, args = _select("SELECT * FROM fits", stage=stage, version=version)
        return [{**dict(r), "result": json.loads(r["result"]),
                 "settings": json.loads(r["settings"]) if r["settings"] else None,
                 "inputs": json.loads(r["inputs"]) if r["inputs"] else None}
                for r in self.conn.execute(query + " ORDER BY id", args)]

    def add_artifact(self, kind: str, path: str | Path, trial: str | None = None) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO artifacts (trial, kind, path, created) VALUES (?, ?, ?, ?)",
                (trial, kind, str(path), time.time()),
            )

    def artifacts(self, kind: str | None = None) -> list[dict[str, Any]]:
        query, args = "SELECT * FROM artifacts", []
        if kind is not None:
            query, args = query + " WHERE kind = ?", [kind]
        return [dict(r) for r in self.conn.execute(query + " ORDER BY id", args)]

    # ---- export -------------------------------------------------------------------------------------------

    def export(self, directory: Path, fmt: str = "csv") -> list[Path]:
        """Write `trials` and `metrics` as CSV or Parquet (pandas) and return the paths."""
        import pandas as pd

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        out = []
        for table in ("trials", "metrics"):
            frame = pd.read_sql_query(f"SELECT * FROM {table}", self.conn)  # noqa: S608 - fixed table names
            path = directory / f"{table}.{ 'parquet' if fmt == 'parquet' else 'csv'}"
            if fmt == "parquet":
                frame.to_parquet(path, index=False)
            else:
                frame.to_csv(path, index=False)
            out.append(path)
        return out


def _select(base: str, **equal: Any) -> tuple[str, list[Any]]:
    """`base WHERE 1=1 AND col = ? ...` for each filter that is not None (column names come from code only)."""
    query, args = base + " WHERE 1=1", []
    for column, value in equal.items():
        if value is not None:
            query, args = f"{query} AND {column} = ?", [*args, value]
    return query, args


def _dumps(value: Any) -> str:
    """JSON for a store column (numpy scalars and paths as their text)."""
    return json.dumps(value, default=str)


def _unusable(path: Path, exc: sqlite3.DatabaseError) -> Exception:
    """A UserError naming the store file, what is wrong with it and what to do; other errors pass through."""
    what = UNUSABLE_FILE_ERRORS.get(getattr(exc, "sqlite_errorname", ""))
    if what is None and isinstance(exc, sqlite3.OperationalError):
        return exc  # busy, locked, ...: not the file's fault
    what = what or f"cannot be used ({exc})"
    return UserError(f"{path} {what}; nothing was changed or deleted: restore it from a backup, or move it aside "
                     "and re-run the sweep to start a fresh store")


class StoreSink:
    """A training run's metrics into the store, in long format, under one trial id, written in batches.

    Rows wait in memory and go to SQLite in one transaction once `batch_rows` of them wait or the oldest has
    waited `flush_s` seconds (so `scaling status` stays current), and at every `flush`, `truncate_after` and
    `close`. The loop flushes before each checkpoint and whenever it ends; a row is kept in the buffer until
    its transaction commits.
    """

    def __init__(self, store: Store, trial_id: str, *, batch_rows: int = 512, flush_s: float = 15.0) -> None:
        self.store, self.trial_id = store, trial_id
        self.batch_rows, self.flush_s = batch_rows, flush_s
        self._rows: list[tuple[str, int, int, float, str, float]] = []
        self._oldest: float | None = None

    @property
    def buffered(self) -> int:
        """Rows logged but not yet written."""
        return len(self._rows)

    def log(self, step: int, tokens: int, flops: float, values: dict[str, float]) -> None:
        self._rows.extend((self.trial_id, step, tokens, flops, name, float(v)) for name, v in values.items())
        now = time.monotonic()
        self._oldest = now if self._oldest is None else self._oldest
        if len(self._rows) >= self.batch_rows or now - self._oldest >= self.flush_s:
            self.flush()

    def flush(self) -> None:
        """Write every buffered row in one transaction (in logging order, so a later value of a row wins)."""
        if self._rows:
            self.store.log_metric_rows(self._rows)
            self._rows, self._oldest = [], None

    def truncate_after(self, step: int) -> None:
        self.flush()
        self.store.delete_metrics_after(self.trial_id, step)

    def close(self) -> None:
        self.flush()
