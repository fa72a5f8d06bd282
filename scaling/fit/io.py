"""Read a results table (CSV, Parquet, or a run directory) into named numpy columns, without pandas.

A directory is resolved by the readers in `DIRECTORY_READERS`, tried in order; the first that returns a table
wins. The built-in one reads `results.csv` inside it. The sweep store adds its own reader with
`register_directory_reader` so `scaling fit runs/<sweep>` reads the store directly.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np

from scaling.errors import UserError

Table = dict[str, np.ndarray]
DirectoryReader = Callable[[Path], "Table | None"]


def _results_csv(directory: Path) -> Table | None:
    """The built-in directory reader: `results.csv` inside the directory."""
    path = directory / "results.csv"
    return read_csv(path) if path.is_file() else None


DIRECTORY_READERS: list[DirectoryReader] = [_results_csv]


def register_directory_reader(reader: DirectoryReader, *, first: bool = True) -> None:
    """Add a way to read a run directory (e.g. the sweep store); tried before the built-in one by default."""
    if reader in DIRECTORY_READERS:
        return
    if first:
        DIRECTORY_READERS.insert(0, reader)
    else:
        DIRECTORY_READERS.append(reader)


def read_table(path: str | Path) -> Table:
    """Columns of a CSV or Parquet file, or of a run directory; UserError naming the path otherwise."""
    p = Path(path)
    if p.is_dir():
        for reader in DIRECTORY_READERS:
            table = reader(p)
            if table is not None:
                return table
        raise UserError(f"{p} is a directory without a results table (expected {p / 'results.csv'})")
    if not p.exists():
        raise UserError(f"file not found: {p}")
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return read_parquet(p)
    if suffix in (".csv", ".tsv", ".txt", ""):
        return read_csv(p)
    raise UserError(f"cannot read {p}: expected a .csv or .parquet file, or a run directory")


def read_csv(path: Path) -> Table:
    """A CSV (or TSV) file: numeric columns as float arrays (empty cells NaN), others as string arrays."""
    with open(path, newline="", encoding="utf-8") as fh:
        sample = fh.read(4096)
        fh.seek(0)
        delimiter = "\t" if path.suffix.lower() == ".tsv" or ("\t" in sample and "," not in sample) else ","
        rows = list(csv.reader(fh, delimiter=delimiter))
    if not rows or not any(h.strip() for h in rows[0]):
        raise UserError(f"{path} is empty or has no header row")
    header = [h.strip() for h in rows[0]]
    body = [r for r in rows[1:] if any(cell.strip() for cell in r)]
    if not body:
        raise UserError(f"{path} has a header but no data rows")
    table: Table = {}
    for j, name in enumerate(header):
        cells = [r[j].strip() if j < len(r) else "" for r in body]
        table[name] = _column(cells)
    return table


def _column(cells: list[str]) -> np.ndarray:
    """Floats when every non-empty cell parses as a number (empty -> NaN), strings otherwise."""
    try:
        return np.array([float(c) if c else np.nan for c in cells], dtype=np.float64)
    except ValueError:
        return np.array(cells, dtype=object)


def read_parquet(path: Path) -> Table:
    """A Parquet file via pyarrow (optional dependency: `pip install scaling[parquet]`)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise UserError(f"reading {path} needs pyarrow: pip install 'scaling[parquet]'") from None
    tbl = pq.read_table(path)
    out: Table = {}
    for name in tbl.column_names:
        values = tbl.column(name).to_pylist()
        try:
            out[name] = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
        except (TypeError, ValueError):
            out[name] = np.array(values, dtype=object)
    return out


def column(table: Table, name: str, *, option: str, source: str | Path) -> np.ndarray:
    """One column by name; UserError naming the option, the file and the columns it does have."""
    if name not in table:
        raise UserError(
            f"column {name!r} (from {option}) not found in {source}; columns are: {', '.join(table)}"
        )
    return table[name]
