"""The project store: one SQLite file (WAL) holding images, classes, segments (RLE), tags, settings and
a persisted undo log.

Why SQLite: a curation session is thousands of tiny edits that must survive a crash or a kill; every
user action is exactly one ``BEGIN IMMEDIATE … COMMIT`` transaction, so a crash loses at most the
action in flight. The GUI thread and the engine's worker thread each get their own connection and
writers are serialised (a process-wide lock plus SQLite's own write lock across processes).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from . import rle as rle_mod
from . import undo as undo_mod
from .palette import auto_color
from .paths import key_text, printable, relative_to_project, to_absolute, to_stored
from .records import (ClassRecord, ImageRecord, ImageStatus, SegmentRecord, SegmentState, StoreError,
                      image_status, segment_state)
from .rle import Rle
from .schema import PRIMARY_KEYS, ensure_schema, migrate

_BUSY_TIMEOUT_S = 30.0


_KEEP_CLASS = object()  # update_segment_mask: leave the class as it is

def _remove_database_files(path: Path) -> None:
    """A project file this call created and could not initialise (e.g. the disk is full) is removed with
    its WAL/SHM side files, so the next attempt does not find an empty "corrupt" database."""
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        try:
            p.unlink(missing_ok=True)
        except OSError:
            pass


def _describe_sqlite_error(exc: sqlite3.DatabaseError, path: Path, creating: bool) -> str:
    """One line for an SQLite failure while opening: a full disk or a read-only folder is not "corrupt"."""
    name = str(getattr(exc, "sqlite_errorname", "") or "")
    text = str(exc)
    verb = "cannot create the project file" if creating else "cannot open the project file"
    if name == "SQLITE_FULL" or "disk is full" in text:
        return f"{verb} {path}: the disk is full ({text})"
    if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_IOERR")) or \
            "readonly" in text or "unable to open" in text or "disk I/O" in text:
        return f"{verb} {path}: the folder or disk cannot be written ({text})"
    return f"{path} is not a readable MaskCurator project (corrupt or not SQLite): {text}"


class _Tx:
    """Row writes inside one transaction; records row images for the undo log when ``record``."""

    def __init__(self, conn: sqlite3.Connection, record: bool):
        self.conn = conn
        self.record = record
        self.changes: list[undo_mod.RowChange] = []

    def insert(self, table: str, values: dict[str, Any]) -> int:
        names = list(values)
        cur = self.conn.execute(
            f"INSERT INTO {table} ({','.join(names)}) VALUES ({','.join('?' * len(names))})",
            [values[n] for n in names])
        rowid = int(cur.lastrowid)
        if self.record:
            key = (rowid,) if PRIMARY_KEYS[table] == ("id",) else tuple(values[c] for c in PRIMARY_KEYS[table])
            self.changes.append(undo_mod.RowChange(table, None, undo_mod.fetch_row(self.conn, table, key)))
        return rowid

    def update(self, table: str, key: tuple, values: dict[str, Any]) -> None:
        before = undo_mod.fetch_row(self.conn, table, key) if self.record else None
        if self.record and before is not None and all(before[k] == v for k, v in values.items()):
            return  # no-op: no undo step for it
        where = " AND ".join(f"{c}=?" for c in PRIMARY_KEYS[table])
        self.conn.execute(f"UPDATE {table} SET {','.join(f'{n}=?' for n in values)} WHERE {where}",
                          [*values.values(), *key])
        if self.record and before is not None:
            self.changes.append(undo_mod.RowChange(table, before, undo_mod.fetch_row(self.conn, table, key)))

    def delete(self, table: str, key: tuple) -> None:
        before = undo_mod.fetch_row(self.conn, table, key) if self.record else None
        where = " AND ".join(f"{c}=?" for c in PRIMARY_KEYS[table])
        self.conn.execute(f"DELETE FROM {table} WHERE {where}", key)
        if self.record and before is not None:
            self.changes.append(undo_mod.RowChange(table, before, None))


def _segment_values(r: Rle) -> dict[str, Any]:
    x, y, w, h = r.bbox
    return {"bbox_x": x, "bbox_y": y, "bbox_w": w, "bbox_h": h, "area": r.area,
            "rle_counts": r.counts, "rle_height": r.height, "rle_width": r.width}


def _check_color(color: Sequence[int]) -> tuple[int, int, int]:
    try:
        rgb = tuple(int(c) for c in color)
    except (TypeError, ValueError):
        raise StoreError(f"colour must be three integers 0-255, got {color!r}") from None
    if len(rgb) != 3 or not all(0 <= c <= 255 for c in rgb):
        raise StoreError(f"colour must be three integers 0-255, got {color!r}")
    return rgb  # type: ignore[return-value]


class ProjectStore:
    """A MaskCurator project file. Create or open with :meth:`open`; see docs/store_api.md."""

    def __init__(self, path: Path, first_conn: sqlite3.Connection, image_root: Path | None = None):
        self._path = path
        self._image_root = Path(image_root) if image_root is not None else path.parent
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = [first_conn]
        self._conns_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._closed = False
        self._local.conn = first_conn

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def open(cls, path: str | Path, image_root: str | Path | None = None) -> "ProjectStore":
        """Open (or create) a project file. Raises StoreError for corrupt, foreign or too-new files, and
        for a file that cannot be created (full disk, read-only folder: no empty file is left behind).

        ``image_root``: the folder image paths are stored relative to (the image folder). Default: the
        folder above a ``.maskcurator/`` database folder, else the one recorded when the project was
        made with an explicit root, else the folder of the database file.
        """
        path = Path(path).expanduser().absolute()
        if path.is_dir():
            raise StoreError(f"{path} is a folder, not a project file")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the project folder {path.parent}: {exc.strerror or exc}") from None
        existed = path.exists()
        conn = None
        try:
            conn = cls._connect(path, creating=not existed)
            ensure_schema(conn, str(path))
            root = cls._image_root(conn, path, image_root)
            migrate(conn, lambda old: cls._rekey_v1(old, path.parent, root))
        except BaseException as exc:
            if conn is not None:
                conn.close()
            if not existed:
                _remove_database_files(path)
            if isinstance(exc, sqlite3.DatabaseError):
                raise StoreError(_describe_sqlite_error(exc, path, creating=not existed)) from None
            raise
        return cls(path, conn, root)

    @staticmethod
    def _image_root(conn: sqlite3.Connection, path: Path, image_root: str | Path | None) -> Path:
        default = path.parent.parent if path.parent.name == ".maskcurator" else path.parent
        if image_root is not None:
            root = Path(image_root).expanduser().absolute()
            if root != default:  # remembered so that opening the file alone finds the images too
                conn.execute("INSERT INTO settings(key, value) VALUES ('store.image_root', ?) "
                             "ON CONFLICT(key) DO UPDATE SET value=excluded.value "
                             "WHERE value <> excluded.value", (json.dumps(printable(root)),))
            return root
        row = conn.execute("SELECT value FROM settings WHERE key='store.image_root'").fetchone()
        if row is not None and path.parent.name != ".maskcurator":
            return Path(json.loads(row[0]))
        return default

    @staticmethod
    def _rekey_v1(old: Any, db_dir: Path, root: Path) -> Any:
        """v1 key (relative to the database folder) → v2 key (relative to the image folder). An absolute
        path that no longer exists but whose file name is in the image folder (the folder was moved or
        copied) is rebased onto it."""
        absolute = to_absolute(old, db_dir)
        new = to_stored(absolute, root)
        text = key_text(new)
        if Path(text).is_absolute() and not os.path.lexists(absolute):
            candidate = root / Path(text).name
            if os.path.lexists(candidate):
                return to_stored(candidate, root)
        return new

    @staticmethod
    def _connect(path: Path, creating: bool = False) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(str(path), timeout=_BUSY_TIMEOUT_S, isolation_level=None,
                                   check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open project {path}: {exc}") from None
        try:
            conn.row_factory = sqlite3.Row
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"{path}: SQLite refused WAL mode (got {mode!r}); is it on a network share?")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=FULL")  # committed = on disk, even after a power cut
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StoreError(_describe_sqlite_error(exc, path, creating)) from None
        except BaseException:
            conn.close()
            raise
        return conn

    def close(self) -> None:
        """Close every thread's connection (checkpoints the WAL). Further use raises StoreError."""
        with self._conns_lock:
            if self._closed:
                return
            self._closed = True
            conns, self._conns = self._conns, []
        for conn in conns:
            try:
                conn.close()
            except sqlite3.Error:
                pass

    def __enter__(self) -> "ProjectStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def path(self) -> Path:
        return self._path

    @property
    def image_root(self) -> Path:
        """The image folder: stored image paths are relative to it (see :meth:`open`)."""
        return self._image_root

    @property
    def project_dir(self) -> Path:
        """Folder image paths are relative to (same as :attr:`image_root`; kept for older callers)."""
        return self._image_root

    def relative_path(self, image: ImageRecord | int) -> str:
        """POSIX path of an image relative to the image folder (``..`` allowed): the COCO file_name.
        A non-UTF-8 name comes back surrogate-escaped (``os.fsdecode``); JSON writes it as ``\\udcXX``."""
        rec = image if isinstance(image, ImageRecord) else self.image(image)
        return relative_to_project(rec.path, self._image_root)

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError(f"project {self._path.name} is closed")
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect(self._path)
            with self._conns_lock:
                if self._closed:
                    conn.close()
                    raise StoreError(f"project {self._path.name} is closed")
                self._conns.append(conn)
            self._local.conn = conn
        return conn

    @contextmanager
    def _write(self, description: str | None) -> Iterator[_Tx]:
        """One transaction; with a description it also becomes one undo step (and clears redo)."""
        conn = self._conn()
        with self._write_lock:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StoreError(f"project is busy or read-only, cannot save: {exc}") from None
            tx = _Tx(conn, record=description is not None)
            try:
                yield tx
                if description is not None and tx.changes:
                    conn.execute("DELETE FROM undo_log WHERE undone=1")
                    conn.execute("INSERT INTO undo_log(description, changes) VALUES (?, ?)",
                                 (description, undo_mod.dumps(tx.changes)))
                    conn.execute(
                        "DELETE FROM undo_log WHERE id <= (SELECT id FROM undo_log ORDER BY id DESC "
                        "LIMIT 1 OFFSET ?)", (undo_mod.MAX_UNDO_STEPS,))
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.IntegrityError):
                    raise StoreError(f"{description or 'write'} violates the project's consistency: {exc}") from None
                if isinstance(exc, sqlite3.OperationalError):
                    raise StoreError(f"{description or 'write'} could not be saved: {exc}") from None
                raise

    @contextmanager
    def snapshot(self) -> Iterator["ProjectStore"]:
        """Consistent reads across many calls from this thread (exporters): a read transaction."""
        conn = self._conn()
        if conn.in_transaction:
            yield self
            return
        conn.execute("BEGIN")
        try:
            conn.execute("SELECT 1 FROM schema_version").fetchone()  # takes the read snapshot now
            yield self
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")

    # ------------------------------------------------------------------ row -> record
    def _image_record(self, row: sqlite3.Row) -> ImageRecord:
        return ImageRecord(int(row["id"]), to_absolute(row["path"], self._image_root), int(row["width"]),
                           int(row["height"]), ImageStatus(row["status"]), row["error"])

    @staticmethod
    def _class_record(row: sqlite3.Row) -> ClassRecord:
        return ClassRecord(int(row["id"]), row["name"], (int(row["r"]), int(row["g"]), int(row["b"])))

    @staticmethod
    def _segment_record(row: sqlite3.Row) -> SegmentRecord:
        return SegmentRecord(
            int(row["id"]), int(row["image_id"]), row["source"], SegmentState(row["state"]),
            None if row["class_id"] is None else int(row["class_id"]),
            None if row["label"] is None else int(row["label"]), float(row["score"]), row["name"],
            (int(row["bbox_x"]), int(row["bbox_y"]), int(row["bbox_w"]), int(row["bbox_h"])), int(row["area"]),
            int(row["z"]))

    def _image_row(self, conn: sqlite3.Connection, image_id: int) -> sqlite3.Row:
        row = conn.execute("SELECT * FROM images WHERE id=?", (int(image_id),)).fetchone()
        if row is None:
            raise StoreError(f"no image with id {image_id}")
        return row

    def _segment_row(self, conn: sqlite3.Connection, segment_id: int) -> sqlite3.Row:
        row = conn.execute("SELECT * FROM segments WHERE id=?", (int(segment_id),)).fetchone()
        if row is None:
            raise StoreError(f"no segment with id {segment_id}")
        return row

    def _check_class(self, conn: sqlite3.Connection, class_id: int | None) -> int | None:
        if class_id is None:
            return None
        if conn.execute("SELECT 1 FROM classes WHERE id=?", (int(class_id),)).fetchone() is None:
            raise StoreError(f"no class with id {class_id}")
        return int(class_id)

    # ------------------------------------------------------------------ images
    def add_images(self, paths: Iterable[str | Path],
                   errors: Mapping[str | Path, str] | None = None) -> list[ImageRecord]:
        """Add new images (already-known paths are skipped); returns the records actually added.

        Sizes are post-EXIF (engine.imageio.read_image_info). Unreadable files are added with
        ``error`` set and a 0x0 size so the user sees them; ``errors`` adds entries already known to be
        unusable (a folder named ``x.jpg``, a symlink loop) with that reason, without reading them.
        Not an undo step (nothing curated yet).
        """
        from engine.imageio import ImageLoadError, read_image_info

        pending: dict[Any, tuple[int, int, str | None]] = {}
        for p, reason in (errors or {}).items():
            pending.setdefault(to_stored(p, self._image_root), (0, 0, printable(reason)))
        for p in paths:
            key = to_stored(p, self._image_root)
            if key in pending:
                continue
            try:
                info = read_image_info(p)
                pending[key] = (int(info.width), int(info.height), None)
            except ImageLoadError as exc:
                pending[key] = (0, 0, printable(exc.reason))
            except Exception as exc:  # noqa: BLE001 - any reader failure is shown to the user, not raised
                pending[key] = (0, 0, printable(f"{type(exc).__name__}: {exc}"))
        added_ids: list[int] = []
        with self._write(None) as tx:
            known = {r[0] for r in tx.conn.execute("SELECT path FROM images")}
            for key, (w, h, err) in pending.items():
                if key in known:
                    continue
                added_ids.append(tx.insert("images", {"path": key, "width": w, "height": h, "error": err}))
        return [self.image(i) for i in added_ids]

    def images(self, status: ImageStatus | str | None = None) -> list[ImageRecord]:
        conn = self._conn()
        if status is None:
            rows = conn.execute("SELECT * FROM images ORDER BY id").fetchall()
        else:
            rows = conn.execute("SELECT * FROM images WHERE status=? ORDER BY id",
                                (image_status(status).value,)).fetchall()
        return [self._image_record(r) for r in rows]

    def image(self, image_id: int) -> ImageRecord:
        return self._image_record(self._image_row(self._conn(), image_id))

    def set_image_status(self, image_id: int, status: ImageStatus | str) -> None:
        st = image_status(status)
        with self._write(f"Mark {self._describe_image(image_id)} {st.value}") as tx:
            self._image_row(tx.conn, image_id)
            tx.update("images", (int(image_id),), {"status": st.value})

    def _describe_image(self, image_id: int) -> str:
        """The file name for undo descriptions (the id if the image is unknown: the write then fails)."""
        try:
            return printable(Path(self.image(image_id).path).name)  # no lone surrogates into SQLite
        except (StoreError, TypeError, ValueError):
            return f"image {image_id}"

    def _describe_segment(self, segment_id: int) -> str:
        try:
            return f"segment {segment_id} of {self._describe_image(self.segment(segment_id).image_id)}"
        except StoreError:
            return f"segment {segment_id}"

    def _describe_class(self, class_id: int | None) -> str:
        try:
            return "unlabelled" if class_id is None else self.class_(class_id).name
        except StoreError:
            return f"class {class_id}"

    def set_image_error(self, image_id: int, error: str | None) -> None:
        """Record (or clear) a read failure found later, e.g. a truncated file. Not an undo step."""
        with self._write(None) as tx:
            self._image_row(tx.conn, image_id)
            tx.update("images", (int(image_id),), {"error": None if error is None else printable(error)})

    def next_image_id(self, after_id: int | None, status: ImageStatus | str | None = "todo") -> int | None:
        """Next readable image with ``status`` after ``after_id`` in add order, wrapping around.

        ``after_id`` itself is never returned; None when no other image qualifies. Unreadable images
        (error set) are skipped: there is nothing to curate on them.
        """
        conn = self._conn()
        cond, args = "error IS NULL", []
        if status is not None:
            cond += " AND status=?"
            args.append(image_status(status).value)
        if after_id is None:
            row = conn.execute(f"SELECT id FROM images WHERE {cond} ORDER BY id LIMIT 1", args).fetchone()
            return None if row is None else int(row[0])
        row = conn.execute(f"SELECT id FROM images WHERE {cond} AND id>? ORDER BY id LIMIT 1",
                           [*args, int(after_id)]).fetchone()
        if row is None:
            row = conn.execute(f"SELECT id FROM images WHERE {cond} AND id<? ORDER BY id LIMIT 1",
                               [*args, int(after_id)]).fetchone()
        return None if row is None else int(row[0])

    # -- review queries (large folders: the filmstrip filters and sorts in SQL, not over records) --
    def status_counts(self) -> dict[str, int]:
        """Images per status plus ``unreadable`` (error set, whatever the status) and ``total``."""
        counts = {s.value: 0 for s in ImageStatus}
        counts["unreadable"] = counts["total"] = 0
        rows = self._conn().execute("SELECT status, COUNT(*), SUM(error IS NOT NULL) FROM images GROUP BY status")
        for status, n, bad in rows:  # one scan of the table (it runs after every review decision)
            counts[str(status)] = int(n)
            counts["total"] += int(n)
            counts["unreadable"] += int(bad or 0)
        return counts

    def proposal_sources(self) -> list[str]:
        """Sources that have open (``proposed``) segments, sorted."""
        rows = self._conn().execute("SELECT DISTINCT source FROM segments WHERE state='proposed' ORDER BY source")
        return [str(r[0]) for r in rows]

    def image_ids(self, *, status: ImageStatus | str | None = None, unreadable: bool | None = None,
                  proposal_source: str | None = None, order: str = "id") -> list[int]:
        """Image ids matching every given condition. ``unreadable``: error set (True) / not (False);
        ``proposal_source``: has open proposals from that source. ``order``: ``id`` (add order),
        ``path`` (relative path, i.e. file name within the folder) or ``score`` (lowest open-proposal
        score first — the least certain image; images without open proposals last, by path)."""
        conds, args = [], []
        if status is not None:
            conds.append("i.status=?")
            args.append(image_status(status).value)
        if unreadable is not None:
            conds.append("i.error IS NOT NULL" if unreadable else "i.error IS NULL")
        if proposal_source is not None:
            conds.append("EXISTS (SELECT 1 FROM segments s WHERE s.image_id=i.id AND s.source=? "
                         "AND s.state='proposed')")
            args.append(str(proposal_source))
        where = f" WHERE {' AND '.join(conds)}" if conds else ""
        if order == "id":
            sql = f"SELECT i.id FROM images i{where} ORDER BY i.id"
        elif order == "path":
            sql = f"SELECT i.id FROM images i{where} ORDER BY i.path, i.id"
        elif order == "score":
            sql = (f"SELECT i.id FROM images i LEFT JOIN (SELECT image_id, MIN(score) AS m FROM segments "
                   f"WHERE state='proposed' GROUP BY image_id) p ON p.image_id=i.id{where} "
                   f"ORDER BY p.m IS NULL, p.m, i.path, i.id")
        else:
            raise StoreError(f"unknown image order {order!r}; expected one of ['id', 'path', 'score']")
        return [int(r[0]) for r in self._conn().execute(sql, args)]

    def image_names(self, contains: str | None = None) -> list[tuple[int, str]]:
        """``(id, path relative to the image folder)`` of every image in add order (jump by name);
        ``contains``: only paths containing that text (ASCII letters in any case; SQL ``LIKE``)."""
        sql, args = "SELECT id, path FROM images", []
        if contains:
            escaped = contains.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            sql += " WHERE path LIKE ? ESCAPE '\\'"
            args.append(f"%{escaped}%")
        rows = self._conn().execute(sql + " ORDER BY id", args).fetchall()
        return [(int(i), key_text(p)) for i, p in rows]

    def set_image_tags(self, image_id: int, class_ids: Iterable[int]) -> None:
        """Replace the image-level class tags (IAL's weak labels)."""
        wanted = {int(c) for c in class_ids}
        with self._write(f"Tag image {image_id}") as tx:
            self._image_row(tx.conn, image_id)
            for c in sorted(wanted):
                self._check_class(tx.conn, c)
            have = {int(r[0]) for r in tx.conn.execute("SELECT class_id FROM image_tags WHERE image_id=?",
                                                       (int(image_id),))}
            for c in sorted(have - wanted):
                tx.delete("image_tags", (int(image_id), c))
            for c in sorted(wanted - have):
                tx.insert("image_tags", {"image_id": int(image_id), "class_id": c})

    def import_tags(self, tags_by_image: Mapping[int, Sequence[str]]) -> list[str]:
        """Set the tags (class names) of many images as one transaction and one undo step, creating the
        classes that do not exist yet; returns the names of the classes created. Any unknown image id or
        bad name raises StoreError before anything is written (engine.curation.tags validates files)."""
        wanted: dict[int, list[str]] = {}
        for image_id, names in tags_by_image.items():
            wanted[int(image_id)] = list(dict.fromkeys(self._clean_name(n) for n in names))
        created: list[str] = []
        if not wanted:
            return created
        with self._write(f"Import tags of {len(wanted)} images") as tx:
            for image_id in wanted:
                self._image_row(tx.conn, image_id)
            ids = {r["name"]: int(r["id"]) for r in tx.conn.execute("SELECT id, name FROM classes")}
            used = {(r[0], r[1], r[2]) for r in tx.conn.execute("SELECT r, g, b FROM classes")}
            i = 0
            for names in wanted.values():
                for name in names:
                    if name in ids:
                        continue
                    while auto_color(i) in used:
                        i += 1
                    rgb = auto_color(i)
                    used.add(rgb)
                    ids[name] = tx.insert("classes", {"name": name, "r": rgb[0], "g": rgb[1], "b": rgb[2]})
                    created.append(name)
            for image_id, names in wanted.items():
                want = {ids[n] for n in names}
                have = {int(r[0]) for r in tx.conn.execute("SELECT class_id FROM image_tags WHERE image_id=?",
                                                           (image_id,))}
                for c in sorted(have - want):
                    tx.delete("image_tags", (image_id, c))
                for c in sorted(want - have):
                    tx.insert("image_tags", {"image_id": image_id, "class_id": c})
        return created

    def image_tags(self, image_id: int) -> list[int]:
        conn = self._conn()
        self._image_row(conn, image_id)
        return [int(r[0]) for r in conn.execute(
            "SELECT class_id FROM image_tags WHERE image_id=? ORDER BY class_id", (int(image_id),))]

    # ------------------------------------------------------------------ classes
    def classes(self) -> list[ClassRecord]:
        return [self._class_record(r) for r in self._conn().execute("SELECT * FROM classes ORDER BY id")]

    def class_(self, class_id: int) -> ClassRecord:
        row = self._conn().execute("SELECT * FROM classes WHERE id=?", (int(class_id),)).fetchone()
        if row is None:
            raise StoreError(f"no class with id {class_id}")
        return self._class_record(row)

    @staticmethod
    def _clean_name(name: str) -> str:
        if name is None:
            raise StoreError("class name must not be empty")
        clean = str(name).strip()
        if not clean:
            raise StoreError("class name must not be empty")
        try:
            clean.encode("utf-8")
        except UnicodeEncodeError:
            raise StoreError(f"class name {printable(clean)!r} is not valid UTF-8 text") from None
        if "\x00" in clean:
            raise StoreError(f"class name {printable(clean)!r} contains a NUL character")
        return clean

    def _check_name_free(self, conn: sqlite3.Connection, name: str, except_id: int | None = None) -> None:
        row = conn.execute("SELECT id FROM classes WHERE name=?", (name,)).fetchone()
        if row is not None and int(row[0]) != except_id:
            raise StoreError(f"a class named {name!r} already exists")

    def add_class(self, name: str, color: tuple[int, int, int] | None = None) -> ClassRecord:
        clean = self._clean_name(name)
        with self._write(f"Add class {clean!r}") as tx:
            self._check_name_free(tx.conn, clean)
            if color is None:
                used = {(r[0], r[1], r[2]) for r in tx.conn.execute("SELECT r, g, b FROM classes")}
                i = 0
                while auto_color(i) in used:
                    i += 1
                rgb = auto_color(i)
            else:
                rgb = _check_color(color)
            new_id = tx.insert("classes", {"name": clean, "r": rgb[0], "g": rgb[1], "b": rgb[2]})
        return self.class_(new_id)

    def rename_class(self, class_id: int, name: str) -> None:
        clean = self._clean_name(name)
        with self._write(f"Rename class to {clean!r}") as tx:
            self._check_class(tx.conn, class_id)
            self._check_name_free(tx.conn, clean, except_id=int(class_id))
            tx.update("classes", (int(class_id),), {"name": clean})

    def set_class_color(self, class_id: int, rgb: tuple[int, int, int]) -> None:
        r, g, b = _check_color(rgb)
        with self._write(f"Recolour class {class_id}") as tx:
            self._check_class(tx.conn, class_id)
            tx.update("classes", (int(class_id),), {"r": r, "g": g, "b": b})

    def delete_class(self, class_id: int) -> None:
        """Delete a class; its segments become unlabelled and its image tags go (one undo step)."""
        with self._write(f"Delete class {class_id}") as tx:
            self._check_class(tx.conn, class_id)
            cid = int(class_id)
            for (sid,) in tx.conn.execute("SELECT id FROM segments WHERE class_id=?", (cid,)).fetchall():
                tx.update("segments", (int(sid),), {"class_id": None})
            for (iid,) in tx.conn.execute("SELECT image_id FROM image_tags WHERE class_id=?", (cid,)).fetchall():
                tx.delete("image_tags", (int(iid), cid))
            tx.delete("classes", (cid,))

    # ------------------------------------------------------------------ segments
    def segments(self, image_id: int, source: str | None = None,
                 states: Iterable[SegmentState | str] | None = None) -> list[SegmentRecord]:
        """Segments of an image ordered by id, optionally filtered by source and states."""
        conn = self._conn()
        self._image_row(conn, image_id)
        sql, args = "SELECT * FROM segments WHERE image_id=?", [int(image_id)]
        if source is not None:
            sql += " AND source=?"
            args.append(source)
        if states is not None:
            wanted = sorted({segment_state(s).value for s in states})
            if not wanted:
                return []
            sql += f" AND state IN ({','.join('?' * len(wanted))})"
            args.extend(wanted)
        return [self._segment_record(r) for r in conn.execute(sql + " ORDER BY id", args)]

    def segment(self, segment_id: int) -> SegmentRecord:
        return self._segment_record(self._segment_row(self._conn(), segment_id))

    def segment_rle(self, segment_id: int) -> Rle:
        """The stored COCO RLE (what the COCO exporter writes without decoding)."""
        return self._rle(self._segment_row(self._conn(), segment_id))

    def segment_rles(self, image_id: int) -> dict[int, Rle]:
        """Every stored RLE of an image by segment id, in one query: a view reloading an image's masks
        after each edit would otherwise ask once per segment."""
        conn = self._conn()
        self._image_row(conn, image_id)
        rows = conn.execute("SELECT id, rle_counts, rle_height, rle_width FROM segments WHERE image_id=?",
                            (int(image_id),))
        return {int(r["id"]): self._rle(r) for r in rows}

    @staticmethod
    def _rle(row: sqlite3.Row) -> Rle:
        return Rle(bytes(row["rle_counts"]), int(row["rle_height"]), int(row["rle_width"]))

    def segment_mask(self, segment_id: int) -> np.ndarray:
        """bool (H, W) mask at full image resolution."""
        return rle_mod.decode(self.segment_rle(segment_id))

    def _encode_for_image(self, conn: sqlite3.Connection, image_id: int, mask: np.ndarray) -> Rle:
        img = self._image_row(conn, image_id)
        return self._encode_checked(img, mask)

    @staticmethod
    def _encode_checked(img: sqlite3.Row, mask: np.ndarray) -> Rle:
        mask = np.asarray(mask)
        if img["error"] is not None or img["width"] <= 0:
            raise StoreError(f"image {img['id']} is unreadable ({img['error']}); it cannot hold segments")
        if mask.ndim != 2 or mask.shape != (img["height"], img["width"]):
            raise StoreError(f"mask shape {mask.shape} does not match image {img['id']} "
                             f"({img['height']}x{img['width']}, post-EXIF)")
        return rle_mod.encode(mask)

    def replace_proposals(self, image_id: int, source: str, proposals: Sequence[Any]) -> list[SegmentRecord]:
        """Swap this source's still-``proposed`` segments for new proposals (engine.proposals.Proposal).

        Accepted/rejected segments of the source stay. Empty masks are dropped. Not an undo step: it
        is a (re-)computation, not a user edit, and must not wipe the user's redo stack.
        """
        conn = self._conn()
        img = self._image_row(conn, image_id)
        encoded = []
        for p in proposals:
            if not np.any(p.mask):
                continue
            encoded.append((p, self._encode_checked(img, p.mask)))  # encode outside the write lock
        new_ids: list[int] = []
        with self._write(None) as tx:
            self._image_row(tx.conn, image_id)
            tx.conn.execute("DELETE FROM segments WHERE image_id=? AND source=? AND state='proposed'",
                            (int(image_id), source))
            for p, r in encoded:
                new_ids.append(tx.insert("segments", {
                    "image_id": int(image_id), "source": source, "state": SegmentState.PROPOSED.value,
                    "class_id": None, "label": None if p.label is None else int(p.label),
                    "score": float(p.score), "name": str(p.name or ""), **_segment_values(r)}))
        return self._segments_by_ids(new_ids)

    def _segments_by_ids(self, ids: list[int]) -> list[SegmentRecord]:
        return [self.segment(i) for i in ids]

    def add_segment(self, image_id: int, mask: np.ndarray, class_id: int | None = None, source: str = "manual",
                    state: SegmentState | str = "accepted", *, name: str = "", score: float = 1.0,
                    label: int | None = None) -> SegmentRecord:
        st = segment_state(state)
        with self._write(f"Add segment to image {image_id}") as tx:
            r = self._encode_for_image(tx.conn, image_id, mask)
            cid = self._check_class(tx.conn, class_id)
            new_id = tx.insert("segments", {
                "image_id": int(image_id), "source": str(source), "state": st.value, "class_id": cid,
                "label": label, "score": float(score), "name": str(name), **_segment_values(r)})
        return self.segment(new_id)

    def import_segments(self, segments: Iterable[tuple[int, Rle, str | None]], *, source: str = "import",
                        state: SegmentState | str = "proposed", description: str = "Import segments",
                        classes: Iterable[str] = ()) -> tuple[list[int], list[str]]:
        """Add many segments ``(image_id, rle, class name or None)`` as one transaction and one undo step
        (an annotation import), creating the classes that do not exist yet in the same step, so one undo
        removes both; ``classes``: names to create first, in this order, when missing (the source's
        category order). Returns (new segment ids, names of the classes created). An unknown or unreadable
        image, a mask whose size is not its image's, or a bad name raises StoreError; nothing is written."""
        st = segment_state(state)
        rows = [(int(i), r, None if c is None else self._clean_name(c)) for i, r, c in segments]
        first = [(None, None, self._clean_name(c)) for c in classes]
        new_ids: list[int] = []
        created: list[str] = []
        if not rows:
            return new_ids, created
        with self._write(description) as tx:
            images: dict[int, sqlite3.Row] = {}
            for image_id, r, _ in rows:
                img = images.get(image_id) or images.setdefault(image_id, self._image_row(tx.conn, image_id))
                if img["error"] is not None or (r.height, r.width) != (img["height"], img["width"]):
                    raise StoreError(f"mask {r.height}x{r.width} does not fit image {image_id} "
                                     f"({img['height']}x{img['width']}{', unreadable' if img['error'] else ''})")
            ids = {r["name"]: int(r["id"]) for r in tx.conn.execute("SELECT id, name FROM classes")}
            used = {(r[0], r[1], r[2]) for r in tx.conn.execute("SELECT r, g, b FROM classes")}
            i = 0
            for image_id, r, name in [*first, *rows]:
                if name is not None and name not in ids:
                    while auto_color(i) in used:
                        i += 1
                    rgb = auto_color(i)
                    used.add(rgb)
                    ids[name] = tx.insert("classes", {"name": name, "r": rgb[0], "g": rgb[1], "b": rgb[2]})
                    created.append(name)
                if r is None:
                    continue
                new_ids.append(tx.insert("segments", {
                    "image_id": image_id, "source": str(source), "state": st.value,
                    "class_id": None if name is None else ids[name], "label": None, "score": 1.0, "name": "",
                    **_segment_values(r)}))
        return new_ids, created

    def set_segment_state(self, segment_id: int, state: SegmentState | str) -> None:
        self.set_segments_state([segment_id], state)

    def set_segments_state(self, segment_ids: Iterable[int], state: SegmentState | str, *,
                           class_id: Any = _KEEP_CLASS) -> None:
        """Set the state of many segments as one undo step (e.g. "accept all"); with ``class_id`` (None =
        unlabelled) also their class in the same step (the app's "apply class on accept": Y labels and
        accepts at once, and one undo takes back both)."""
        st = segment_state(state)
        ids = list(dict.fromkeys(int(i) for i in segment_ids))
        if not ids:
            return
        what = self._describe_segment(ids[0]) if len(ids) == 1 else f"{len(ids)} segments"
        if class_id is not _KEEP_CLASS:
            what += f" as {self._describe_class(class_id)}"
        with self._write(f"{st.value.capitalize()} {what}") as tx:
            for sid in ids:
                self._segment_row(tx.conn, sid)
            values: dict[str, Any] = {"state": st.value}
            if class_id is not _KEEP_CLASS:
                values["class_id"] = self._check_class(tx.conn, class_id)
            for sid in ids:
                tx.update("segments", (sid,), values)

    def move_segments_z(self, segment_ids: Iterable[int], where: str) -> None:
        """Bring segments to the front (``where="front"``: above every other segment of their image) or
        send them to the back (``"back"``), keeping their order among themselves; one undo step. All
        must belong to one image (the z-order is per image)."""
        if where not in ("front", "back"):
            raise StoreError(f"unknown z-order move {where!r}; expected 'front' or 'back'")
        ids = list(dict.fromkeys(int(i) for i in segment_ids))
        if not ids:
            return
        what = f"segment {ids[0]}" if len(ids) == 1 else f"{len(ids)} segments"
        with self._write(f"{'Bring' if where == 'front' else 'Send'} {what} to {where}") as tx:
            rows = [self._segment_row(tx.conn, sid) for sid in ids]
            image_ids = {int(r["image_id"]) for r in rows}
            if len(image_ids) != 1:
                raise StoreError(f"cannot reorder segments of different images {sorted(image_ids)} together")
            lo, hi = tx.conn.execute("SELECT MIN(z), MAX(z) FROM segments WHERE image_id=?",
                                     (image_ids.pop(),)).fetchone()
            ordered = sorted(rows, key=lambda r: (int(r["z"]), -int(r["area"])))  # their drawing order
            start = int(hi) + 1 if where == "front" else int(lo) - len(ordered)
            for i, row in enumerate(ordered):
                tx.update("segments", (int(row["id"]),), {"z": start + i})

    def set_segment_class(self, segment_id: int, class_id: int | None) -> None:
        """Relabel a segment (None = unlabelled); a proposed segment becomes accepted."""
        self.set_segments_class([segment_id], class_id)

    def set_segments_class(self, segment_ids: Iterable[int], class_id: int | None) -> None:
        """Relabel many segments as one transaction and one undo step (multi-selection relabel).

        Proposed segments become accepted, as with :meth:`set_segment_class`. Any unknown id or class
        raises StoreError before anything is written.
        """
        ids = list(dict.fromkeys(int(i) for i in segment_ids))
        if not ids:
            return
        what = f"{len(ids)} segments"
        if len(ids) == 1:  # undo menu: "Relabel segment 6 of cat.jpg as dog", not "Relabel segment 6"
            what = f"{self._describe_segment(ids[0])} as {self._describe_class(class_id)}"
        with self._write(f"Relabel {what}") as tx:
            rows = [self._segment_row(tx.conn, sid) for sid in ids]
            cid = self._check_class(tx.conn, class_id)
            for sid, row in zip(ids, rows):
                values: dict[str, Any] = {"class_id": cid}
                if row["state"] == SegmentState.PROPOSED.value:
                    values["state"] = SegmentState.ACCEPTED.value
                tx.update("segments", (sid,), values)

    def merge_segments(self, segment_ids: Sequence[int], class_id: int | None = None) -> SegmentRecord:
        """OR the masks into one new accepted segment and delete the originals (one undo step).

        The class defaults to the first labelled input (in the order given).
        """
        ids = list(dict.fromkeys(int(i) for i in segment_ids))
        if len(ids) < 2:
            raise StoreError("merging needs at least two different segments")
        with self._write(f"Merge {len(ids)} segments") as tx:
            rows = [self._segment_row(tx.conn, sid) for sid in ids]
            image_ids = {int(r["image_id"]) for r in rows}
            if len(image_ids) != 1:
                raise StoreError(f"cannot merge segments of different images {sorted(image_ids)}")
            if class_id is None:
                class_id = next((r["class_id"] for r in rows if r["class_id"] is not None), None)
            cid = self._check_class(tx.conn, class_id)
            merged = rle_mod.union([Rle(bytes(r["rle_counts"]), r["rle_height"], r["rle_width"]) for r in rows])
            sources = {r["source"] for r in rows}
            new_id = tx.insert("segments", {
                "image_id": image_ids.pop(), "source": sources.pop() if len(sources) == 1 else "manual",
                "state": SegmentState.ACCEPTED.value, "class_id": cid, "label": None,
                "score": max(float(r["score"]) for r in rows), "name": rows[0]["name"],
                "z": max(int(r["z"]) for r in rows), **_segment_values(merged)})
            for sid in ids:
                tx.delete("segments", (sid,))
        return self.segment(new_id)

    def update_segment_mask(self, segment_id: int, mask: np.ndarray, *, class_id: Any = _KEEP_CLASS) -> None:
        """Replace a segment's mask (one brush/erase stroke, or a prompted refinement that may also set
        its ``class_id``), as one undo step. An edited proposal becomes accepted so a re-run of its
        method cannot wipe the edit."""
        with self._write(f"Edit mask of segment {segment_id}") as tx:
            row = self._segment_row(tx.conn, segment_id)
            r = self._encode_for_image(tx.conn, int(row["image_id"]), mask)
            values = _segment_values(r)
            if class_id is not _KEEP_CLASS:
                values["class_id"] = self._check_class(tx.conn, class_id)
            if row["state"] == SegmentState.PROPOSED.value:
                values["state"] = SegmentState.ACCEPTED.value
            tx.update("segments", (int(segment_id),), values)

    def delete_segment(self, segment_id: int) -> None:
        self.delete_segments([segment_id])

    def delete_segments(self, segment_ids: Iterable[int]) -> None:
        """Delete many segments as one transaction and one undo step (multi-selection delete).

        Any unknown id raises StoreError before anything is deleted.
        """
        ids = list(dict.fromkeys(int(i) for i in segment_ids))
        if not ids:
            return
        what = f"segment {ids[0]}" if len(ids) == 1 else f"{len(ids)} segments"
        with self._write(f"Delete {what}") as tx:
            for sid in ids:
                self._segment_row(tx.conn, sid)
            for sid in ids:
                tx.delete("segments", (sid,))

    # ------------------------------------------------------------------ undo / redo
    def undo(self) -> str | None:
        """Reverse the latest user action; returns its description (None if nothing to undo)."""
        return self._replay(undo=True)

    def redo(self) -> str | None:
        """Re-apply the most recently undone action; returns its description (None if nothing)."""
        return self._replay(undo=False)

    def _replay(self, undo: bool) -> str | None:
        """Undo the newest done step, or redo the oldest undone one, in one transaction."""
        query = ("SELECT id, description, changes FROM undo_log WHERE undone=0 ORDER BY id DESC LIMIT 1" if undo
                 else "SELECT id, description, changes FROM undo_log WHERE undone=1 ORDER BY id ASC LIMIT 1")
        with self._write(None) as tx:
            row = tx.conn.execute(query).fetchone()
            if row is None:
                return None
            undo_mod.apply(tx.conn, undo_mod.loads(row["changes"]), reverse=undo)
            tx.conn.execute("UPDATE undo_log SET undone=? WHERE id=?", (int(undo), row["id"]))
            return str(row["description"])

    def can_undo(self) -> bool:
        return self._conn().execute("SELECT 1 FROM undo_log WHERE undone=0 LIMIT 1").fetchone() is not None

    def can_redo(self) -> bool:
        return self._conn().execute("SELECT 1 FROM undo_log WHERE undone=1 LIMIT 1").fetchone() is not None

    def undo_description(self) -> str | None:
        """What undo would reverse (for the Edit menu label)."""
        row = self._conn().execute(
            "SELECT description FROM undo_log WHERE undone=0 ORDER BY id DESC LIMIT 1").fetchone()
        return None if row is None else str(row[0])

    def redo_description(self) -> str | None:
        row = self._conn().execute(
            "SELECT description FROM undo_log WHERE undone=1 ORDER BY id ASC LIMIT 1").fetchone()
        return None if row is None else str(row[0])

    # ------------------------------------------------------------------ settings
    def get_setting(self, key: str, default: Any = None) -> Any:
        row = self._conn().execute("SELECT value FROM settings WHERE key=?", (str(key),)).fetchone()
        return default if row is None else json.loads(row[0])

    def set_setting(self, key: str, value: Any) -> None:
        """Store a JSON-able value (not an undo step: preferences are not curation)."""
        try:
            text = json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise StoreError(f"setting {key!r} must be JSON-serialisable: {exc}") from None
        with self._write(None) as tx:
            tx.conn.execute("INSERT INTO settings(key, value) VALUES (?, ?) "
                            "ON CONFLICT(key) DO UPDATE SET value=excluded.value", (str(key), text))
