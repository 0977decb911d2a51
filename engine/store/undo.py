"""Persisted undo/redo as row images.

Each user action records, per touched row, the full row *before* and *after* (masks included, as RLE
bytes). Undo makes every row equal to its "before" image in reverse order; redo makes it equal to its
"after" image in forward order. Restoring full images (upsert / delete) rather than replaying inverse
operations keeps undo correct even when a non-undoable change (a background job replacing
proposals) touched a row in between.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from .schema import PRIMARY_KEYS

Row = dict[str, Any]

#: Oldest undo steps beyond this many are dropped so the log cannot grow without bound.
MAX_UNDO_STEPS = 500


@dataclass(frozen=True)
class RowChange:
    """One row's state before and after an action (None = row absent)."""

    table: str
    before: Row | None
    after: Row | None

    def key(self) -> tuple:
        row = self.before if self.before is not None else self.after
        assert row is not None
        return tuple(row[c] for c in PRIMARY_KEYS[self.table])


def _encode_value(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray, memoryview)):
        return {"$b64": base64.b64encode(bytes(v)).decode("ascii")}
    return v


def _decode_value(v: Any) -> Any:
    if isinstance(v, dict) and "$b64" in v:
        return base64.b64decode(v["$b64"])
    return v


def dumps(changes: list[RowChange]) -> str:
    def row(r: Row | None):
        return None if r is None else {k: _encode_value(v) for k, v in r.items()}

    return json.dumps([[c.table, row(c.before), row(c.after)] for c in changes], separators=(",", ":"))


def loads(text: str) -> list[RowChange]:
    def row(r):
        return None if r is None else {k: _decode_value(v) for k, v in r.items()}

    return [RowChange(t, row(b), row(a)) for t, b, a in json.loads(text)]


def fetch_row(conn: sqlite3.Connection, table: str, key: tuple) -> Row | None:
    cols = PRIMARY_KEYS[table]
    where = " AND ".join(f"{c}=?" for c in cols)
    cur = conn.execute(f"SELECT * FROM {table} WHERE {where}", key)
    found = cur.fetchone()
    if found is None:
        return None
    return {d[0]: v for d, v in zip(cur.description, found)}


def restore_row(conn: sqlite3.Connection, table: str, key: tuple, target: Row | None) -> None:
    """Make the row with primary key ``key`` equal to ``target`` (delete it when None)."""
    cols = PRIMARY_KEYS[table]
    where = " AND ".join(f"{c}=?" for c in cols)
    if target is None:
        conn.execute(f"DELETE FROM {table} WHERE {where}", key)
        return
    names = list(target)
    if fetch_row(conn, table, key) is None:
        conn.execute(f"INSERT INTO {table} ({','.join(names)}) VALUES ({','.join('?' * len(names))})",
                     [target[n] for n in names])
    else:
        sets = ",".join(f"{n}=?" for n in names)
        conn.execute(f"UPDATE {table} SET {sets} WHERE {where}", [target[n] for n in names] + list(key))


def apply(conn: sqlite3.Connection, changes: list[RowChange], *, reverse: bool) -> None:
    """Undo (``reverse=True``: restore "before" images last-to-first) or redo an action."""
    ordered = reversed(changes) if reverse else changes
    for change in ordered:
        restore_row(conn, change.table, change.key(), change.before if reverse else change.after)
