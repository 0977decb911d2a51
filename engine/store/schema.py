"""Database layout and version check: the one place that knows the tables.

Foreign keys have no ON DELETE actions on purpose: every cascade (segments of a deleted class become
unlabelled, its tags go away) is done explicitly by the store so that the undo log records it.
"""

from __future__ import annotations

import sqlite3
from typing import Callable

from .records import StoreError

#: Bump when the layout changes (and add a migration step for older files); newer files are refused.
#: v1: image paths relative to the folder of the database file (absolute for images outside it, i.e.
#:     every image of a ``<folder>/.maskcurator/project.sqlite`` project); v2: relative to the image
#:     folder (``ProjectStore.image_root``), non-UTF-8 names as BLOB keys (engine/store/paths.py);
#: v3: ``segments.z`` (drawing order within an image: higher on top; 0 = "by size", set by the app's
#:     Bring to front / Send to back, so the order a person chose survives a restart and is undoable).
SCHEMA_VERSION = 3

#: Primary-key columns of every table whose rows the undo log may restore.
PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "images": ("id",),
    "classes": ("id",),
    "segments": ("id",),
    "image_tags": ("image_id", "class_id"),
}

_DDL = """
CREATE TABLE schema_version (
    version INTEGER NOT NULL
);
CREATE TABLE images (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    path    TEXT NOT NULL UNIQUE,            -- relative to the image folder when inside it (BLOB: non-UTF-8)
    width   INTEGER NOT NULL DEFAULT 0,
    height  INTEGER NOT NULL DEFAULT 0,
    status  TEXT NOT NULL DEFAULT 'todo' CHECK (status IN ('todo', 'accepted', 'rejected')),
    error   TEXT
);
CREATE TABLE classes (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,   -- AUTOINCREMENT: ids are never reused, so redo is safe
    name    TEXT NOT NULL UNIQUE,
    r       INTEGER NOT NULL, g INTEGER NOT NULL, b INTEGER NOT NULL
);
CREATE TABLE image_tags (
    image_id INTEGER NOT NULL REFERENCES images(id),
    class_id INTEGER NOT NULL REFERENCES classes(id),
    PRIMARY KEY (image_id, class_id)
);
CREATE TABLE segments (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    image_id    INTEGER NOT NULL REFERENCES images(id),
    source      TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('proposed', 'accepted', 'rejected')),
    class_id    INTEGER REFERENCES classes(id),
    label       INTEGER,
    score       REAL NOT NULL DEFAULT 1.0,
    name        TEXT NOT NULL DEFAULT '',
    bbox_x INTEGER NOT NULL, bbox_y INTEGER NOT NULL, bbox_w INTEGER NOT NULL, bbox_h INTEGER NOT NULL,
    area        INTEGER NOT NULL,
    rle_counts  BLOB NOT NULL,                -- COCO compressed RLE counts
    rle_height  INTEGER NOT NULL,
    rle_width   INTEGER NOT NULL,
    z           INTEGER NOT NULL DEFAULT 0    -- drawing order in the image (higher = on top); v3
);
CREATE INDEX segments_by_image ON segments(image_id, source, state);
CREATE INDEX segments_by_class ON segments(class_id);
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL                        -- JSON
);
CREATE TABLE undo_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    description TEXT NOT NULL,
    changes     TEXT NOT NULL,                 -- JSON list of row before/after images
    undone      INTEGER NOT NULL DEFAULT 0     -- 1 = on the redo stack
);
"""


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, rekey: Callable[[object], object]) -> None:
    """Bring an older project file up to :data:`SCHEMA_VERSION` in one transaction (idempotent: another
    process may have migrated it meanwhile). ``rekey(v1 path) -> v2 key`` rebases image paths (v1 → v2);
    v2 → v3 adds ``segments.z`` (default 0)."""
    if schema_version(conn) >= SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        if schema_version(conn) < 2:
            rows = conn.execute("SELECT id, path FROM images ORDER BY id").fetchall()
            taken = {r[1] for r in rows}
            for image_id, old in rows:
                new = rekey(old)
                if new == old or new in taken:  # e.g. a stale duplicate of a moved image: keep as is
                    continue
                conn.execute("UPDATE images SET path=? WHERE id=?", (new, image_id))
                taken.discard(old)
                taken.add(new)
            conn.execute("INSERT INTO schema_version(version) VALUES (2)")
        if schema_version(conn) < 3:
            columns = {r[1] for r in conn.execute("PRAGMA table_info(segments)")}
            if "z" not in columns:  # old rows keep "by size" order; old undo rows without z restore to 0
                conn.execute("ALTER TABLE segments ADD COLUMN z INTEGER NOT NULL DEFAULT 0")
            conn.execute("INSERT INTO schema_version(version) VALUES (3)")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def ensure_schema(conn: sqlite3.Connection, path: str) -> None:
    """Create the tables in an empty database or check the version of an existing one.

    Raises StoreError for a file that is not a MaskCurator project, is corrupt, or was written by a
    newer MaskCurator (opening it would risk silently dropping data we do not understand).
    """
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is not a readable MaskCurator project (corrupt or not SQLite): {exc}") from None
    if not tables:
        conn.execute("BEGIN IMMEDIATE")
        try:  # re-check under the write lock: another process may have created it meanwhile
            if conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE type='table'").fetchone()[0] == 0:
                for statement in _statements(_DDL):
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version(version) VALUES (?)", (SCHEMA_VERSION,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "schema_version" not in tables:
        raise StoreError(f"{path} is an SQLite database but not a MaskCurator project (no schema_version table)")
    try:
        row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is corrupt: cannot read its schema version ({exc})") from None
    version = row[0] if row else None
    if not isinstance(version, int):
        raise StoreError(f"{path} is corrupt: missing schema version")
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path} was written by a newer MaskCurator (project format v{version}; this version reads up to "
            f"v{SCHEMA_VERSION}). Update MaskCurator to open it.")
    missing = set(PRIMARY_KEYS) | {"settings", "undo_log"}
    missing -= tables
    if missing:
        raise StoreError(f"{path} is corrupt: missing tables {sorted(missing)}")


def _statements(script: str) -> list[str]:
    """Split the DDL into statements (executescript would COMMIT our explicit transaction)."""
    body = "\n".join(line.split("--", 1)[0] for line in script.splitlines())
    return [s.strip() for s in body.split(";") if s.strip()]
