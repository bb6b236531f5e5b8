"""Atomic file writes: a reader sees the complete old file, the complete new one, or none."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

_UMASK = os.umask(0)
os.umask(_UMASK)  # reading the umask means setting it: put it straight back


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call `write(tmp_path)` on a temporary file beside `path`, then rename it into place.

    A process killed mid-write leaves at most a stray temporary file, never a partial `path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    # mkstemp creates the file private (0600); give it the permissions of a normal new file.
    os.chmod(tmp, 0o666 & ~_UMASK)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


# Rows converted to Arrow at a time when writing a table (see write_parquet).
PARQUET_CHUNK_ROWS = 65536


def write_parquet(table: pd.DataFrame, path: str | Path) -> Path:
    """`table` as a parquet file at `path` (atomic, no index), converted a chunk of rows at a
    time: Arrow stores every row's copy of a string, and the run tables repeat long settings
    strings on every row (run_tables.repeated), so converting a whole table at once would take
    about 0.7 KB per row. The file reads back as `table.to_parquet` would write it."""
    if len(table) <= PARQUET_CHUNK_ROWS:
        return atomic_write(path, lambda tmp: table.to_parquet(tmp, index=False))
    schema = chunk_schema(table)

    def write(tmp: Path) -> None:
        with pq.ParquetWriter(tmp, schema) as writer:
            for start in range(0, len(table), PARQUET_CHUNK_ROWS):
                chunk = table.iloc[start : start + PARQUET_CHUNK_ROWS]
                writer.write_table(pa.Table.from_pandas(chunk, schema, preserve_index=False))

    return atomic_write(path, write)


def chunk_schema(table: pd.DataFrame) -> pa.Schema:
    """The Arrow schema of `table`, inferred from its first chunk of rows (pyarrow infers a
    whole table's by converting every column); a column with no value there takes its type from
    its first value."""
    schema = pa.Schema.from_pandas(table.iloc[:PARQUET_CHUNK_ROWS], preserve_index=False)
    for i, field in enumerate(schema):
        if pa.types.is_null(field.type):
            present = table[field.name].dropna()
            if len(present):
                typed = pa.Schema.from_pandas(present.iloc[:1].to_frame(), preserve_index=False)
                schema = schema.set(i, typed.field(field.name))
    return schema
