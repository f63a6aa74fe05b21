"""The project store: a person's masks and each image's lifecycle row, in SQLite.

One annotation folder (``<images>_edits`` beside the images by default) holds:

- ``masks/<id>_mask.png``: masks a person made (lossless, atomic writes);
- ``auto/<id>_auto.png``: the model's auto-masks, stored once whoever made them;
- ``project.sqlite``: a row per image (state, model version of its auto-mask, uncertainty,
  pixels changed, seconds, Dice against truth, who changed it last and when, a revision).

Each change is one transaction (WAL), so nothing rewrites the whole project, and two
windows (or a window and ``carvana automask``) on one folder see each other's rows. A
change made elsewhere to a mask this store loaded raises ``ConflictError`` instead of a
silent overwrite; the caller lets the person choose. SQLite's locking does not hold over
network filesystems: a folder shared that way is out of scope.

State transitions are the lifecycle's (``model.edits.lifecycle``); this module applies
them to rows and files. A folder with the older ``project.json`` is migrated on open
(the JSON is kept as ``project.json.migrated``); unreadable or inconsistent state is
recovered from the mask files (``model.edits.project_recovery``) with a message naming
the file, never a crash.
"""

from __future__ import annotations

import contextlib
import getpass
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from model.data.masks import read_mask, write_mask
from model.edits import lifecycle
from model.edits.lifecycle import MaskRecord, MaskSource, MaskState
from model.edits.project_recovery import record_from_values, rows_from_disk

log = logging.getLogger(__name__)

DB_NAME = "project.sqlite"
LEGACY_JSON = "project.json"
SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 10.0

_COLUMNS = (
    "state",
    "auto_version",
    "has_auto",
    "has_edit",
    "uncertainty",
    "pixels_changed",
    "seconds",
    "dice",
    "user",
    "updated",
    "revision",
)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    image_id TEXT PRIMARY KEY,
    state TEXT NOT NULL DEFAULT 'none',
    auto_version TEXT,
    has_auto INTEGER NOT NULL DEFAULT 0,
    has_edit INTEGER NOT NULL DEFAULT 0,
    uncertainty REAL,
    pixels_changed INTEGER,
    seconds REAL NOT NULL DEFAULT 0,
    dice REAL,
    user TEXT,
    updated TEXT,
    revision INTEGER NOT NULL DEFAULT 0,
    seq INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS images_by_seq ON images (seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""


class ProjectError(RuntimeError):
    """The project folder or its database cannot be used; the message names the path."""


class ConflictError(RuntimeError):
    """The mask was changed elsewhere (another window or process) since it was loaded."""

    def __init__(self, image_id: str, theirs: MaskRecord) -> None:
        self.image_id = image_id
        self.theirs = theirs
        who = theirs.user or "another program"
        super().__init__(
            f"{image_id}: changed by {who} at {theirs.updated or '?'} "
            f"(now {theirs.state}) since this window loaded it"
        )


def default_project_dir(image_folder: Path) -> Path:
    """``train/`` -> ``train_edits/`` beside it."""
    folder = Path(image_folder).resolve()
    return folder.parent / f"{folder.name}_edits"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return f"uid{os.getuid()}" if hasattr(os, "getuid") else "unknown"


class ProjectStore:
    """Masks and lifecycle rows of one image folder. Thread-safe (one connection, a lock)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.user = _user()
        self.recovered: list[str] = []  # what was repaired on open, for the window to show
        self._lock = threading.RLock()
        self._records: dict[str, MaskRecord] = {}
        self._seen: dict[str, int] = {}  # revision of each mask as this store last loaded it
        self._seq = 0
        self._data_version = -1
        self._conn: sqlite3.Connection | None = None
        self._open()

    @classmethod
    def for_folder(cls, image_folder: Path, project_dir: Path | None = None) -> ProjectStore:
        return cls(project_dir if project_dir is not None else default_project_dir(image_folder))

    # -- paths ----------------------------------------------------------------
    @property
    def db_path(self) -> Path:
        return self.root / DB_NAME

    def mask_path(self, image_id: str) -> Path:
        return self.root / "masks" / f"{image_id}_mask.png"

    def auto_mask_path(self, image_id: str) -> Path:
        return self.root / "auto" / f"{image_id}_auto.png"

    def source_path(self, image_id: str) -> Path | None:
        """The file of the mask the lifecycle says is shown, or None."""
        source = lifecycle.shown_source(self.record(image_id))
        if source is MaskSource.EDITED:
            return self.mask_path(image_id)
        if source is MaskSource.AUTO:
            return self.auto_mask_path(image_id)
        return None

    # -- opening ----------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.db_path, timeout=BUSY_TIMEOUT_S, check_same_thread=False, isolation_level=None
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_SCHEMA)
        return conn

    def _open(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ProjectError(f"{self.root}: cannot create the edits folder ({exc})") from exc
        fresh = not self.db_path.exists()
        try:
            self._conn = self._connect()
            self._conn.execute("SELECT count(*) FROM images").fetchone()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and not self._is_corrupt(exc):
                raise ProjectError(f"{self.db_path}: cannot open the project ({exc})") from exc
            self._set_aside_corrupt(exc)
            fresh = True
        if fresh:
            self._initialise()
        self._load_all()

    @staticmethod
    def _is_corrupt(exc: sqlite3.DatabaseError) -> bool:
        text = str(exc).lower()
        return "malformed" in text or "not a database" in text

    def _set_aside_corrupt(self, exc: Exception) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
        aside = self.db_path.with_name(f"{DB_NAME}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}")
        for suffix in ("", "-wal", "-shm"):
            part = Path(str(self.db_path) + suffix)
            if part.exists():
                os.replace(part, Path(str(aside) + suffix))
        self.recovered.append(
            f"{self.db_path}: unreadable ({exc}); set aside as {aside.name}, "
            "states rebuilt from the mask files"
        )
        self._conn = self._connect()

    def _initialise(self) -> None:
        """A new database: migrate ``project.json`` if there is one, else read the mask files."""
        legacy = self.root / LEGACY_JSON
        rows = rows_from_disk(self.root, legacy, self.recovered)
        with self._transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            for image_id, record in rows.items():
                self._write_row(conn, image_id, record)
        if legacy.is_file() and not any(legacy.name in m for m in self.recovered):
            os.replace(legacy, legacy.with_name(LEGACY_JSON + ".migrated"))
            log.info("%s: migrated %d images into %s", legacy, len(rows), DB_NAME)

    def _load_all(self) -> None:
        with self._lock:
            rows = self._conn.execute(
                f"SELECT image_id, {', '.join(_COLUMNS)}, seq FROM images"
            ).fetchall()
            self._records = {}
            for row in rows:
                self._records[row[0]] = self._row_record(row)
                self._seq = max(self._seq, int(row[-1] or 0))
            self._data_version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        if self.recovered:
            for message in self.recovered:
                log.warning("%s", message)

    def _row_record(self, row: tuple) -> MaskRecord:
        values = dict(zip(_COLUMNS, row[1:-1], strict=True))
        return record_from_values(values, self.recovered, f"{self.db_path}: {row[0]}")

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # -- transactions ---------------------------------------------------------------
    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT: one writer at a time across windows and processes."""
        with self._lock:
            conn = self._conn
            if conn is None:
                raise ProjectError(f"{self.db_path}: the project is closed")
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise ProjectError(f"{self.db_path}: cannot write ({exc})") from exc
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise ProjectError(f"{self.db_path}: cannot write ({exc})") from exc
                raise

    def _read_row(self, conn: sqlite3.Connection, image_id: str) -> MaskRecord:
        row = conn.execute(
            f"SELECT image_id, {', '.join(_COLUMNS)}, seq FROM images WHERE image_id = ?",
            (image_id,),
        ).fetchone()
        return MaskRecord() if row is None else self._row_record(row)

    def _write_row(self, conn: sqlite3.Connection, image_id: str, record: MaskRecord) -> None:
        # The next change number across all writers; self._seq stays "the newest row read",
        # so refresh() still picks up what other writers did before this change.
        seq = (conn.execute("SELECT max(seq) FROM images").fetchone()[0] or 0) + 1
        values = [getattr(record, name) for name in _COLUMNS]
        values = [str(v) if isinstance(v, MaskState) else v for v in values]
        conn.execute(
            f"INSERT OR REPLACE INTO images (image_id, {', '.join(_COLUMNS)}, seq) "
            f"VALUES ({', '.join('?' * (len(_COLUMNS) + 2))})",
            (image_id, *values, seq),
        )
        self._records[image_id] = record

    def _change(
        self, conn: sqlite3.Connection, image_id: str, record: MaskRecord, bump: bool = True
    ) -> MaskRecord:
        stamped = replace(
            record,
            user=self.user,
            updated=_now(),
            revision=record.revision + 1 if bump else record.revision,
        )
        self._write_row(conn, image_id, stamped)
        if bump:
            self._seen[image_id] = stamped.revision
        return stamped

    # -- reading ----------------------------------------------------------------
    def refresh(self) -> set[str]:
        """Take in rows other windows or processes changed; returns their image ids.

        Cheap when nothing changed (one PRAGMA); otherwise reads only the changed rows.
        """
        with self._lock:
            if self._conn is None:
                return set()
            version = self._conn.execute("PRAGMA data_version").fetchone()[0]
            if version == self._data_version:
                return set()
            self._data_version = version
            rows = self._conn.execute(
                f"SELECT image_id, {', '.join(_COLUMNS)}, seq FROM images WHERE seq > ?",
                (self._seq,),
            ).fetchall()
            changed = set()
            for row in rows:
                record = self._row_record(row)
                if self._records.get(row[0]) != record:
                    changed.add(row[0])
                self._records[row[0]] = record
                self._seq = max(self._seq, int(row[-1] or 0))
            return changed

    def record(self, image_id: str) -> MaskRecord:
        with self._lock:
            return self._records.get(image_id, MaskRecord())

    def state(self, image_id: str) -> MaskState:
        return self.record(image_id).state

    def records(self) -> dict[str, MaskRecord]:
        """A snapshot of every touched image's row (untouched images are ``none``)."""
        with self._lock:
            return dict(self._records)

    def load_for_editing(self, image_id: str) -> np.ndarray | None:
        """The shown mask (lifecycle's choice), noting its revision for conflict checks.

        Raises ProjectError naming the file when the stored mask cannot be read.
        """
        with self._lock:
            self.refresh()
            record = self.record(image_id)
            self._seen[image_id] = record.revision
        path = self.source_path(image_id)
        if path is None:
            return None
        try:
            return read_mask(path)
        except Exception as exc:
            raise ProjectError(f"{path}: cannot read the stored mask ({exc})") from exc

    def load_shown_mask(self, image_id: str) -> np.ndarray | None:
        """The mask the lifecycle says is shown (export, scoring), or None."""
        path = self.source_path(image_id)
        return read_mask(path) if path is not None else None

    def load_auto_mask(self, image_id: str) -> np.ndarray | None:
        path = self.auto_mask_path(image_id)
        return read_mask(path) if self.record(image_id).has_auto and path.exists() else None

    # -- writing ----------------------------------------------------------------
    def _check_conflict(self, conn: sqlite3.Connection, image_id: str, force: bool) -> MaskRecord:
        current = self._read_row(conn, image_id)
        seen = self._seen.get(image_id)
        if not force and seen is not None and current.revision != seen:
            self._records[image_id] = current
            raise ConflictError(image_id, current)
        return current

    def save_edit(self, image_id: str, mask: np.ndarray, force: bool = False) -> MaskRecord:
        """Store a person's mask (atomic PNG + one transaction).

        Raises ConflictError when the mask changed elsewhere since this store loaded it
        (``force=True`` is the person's "keep mine"), ProjectError when the disk refuses.
        """
        auto = None
        with self._transaction() as conn:
            current = self._check_conflict(conn, image_id, force)
            if current.has_auto:
                auto = self._read_auto_for(image_id, mask.shape)
            changed = (
                int(np.count_nonzero((mask != 0) != (auto != 0))) if auto is not None else None
            )
            new = lifecycle.after_edit(current, changed)
            if new.has_edit:
                self._write_file(self.mask_path(image_id), mask)
            else:
                self.mask_path(image_id).unlink(missing_ok=True)  # identical to the auto-mask
            return self._change(conn, image_id, new)

    def _read_auto_for(self, image_id: str, shape: tuple[int, ...]) -> np.ndarray | None:
        path = self.auto_mask_path(image_id)
        try:
            auto = read_mask(path)
        except Exception as exc:
            log.warning("%s: unreadable auto-mask (%s)", path, exc)
            return None
        return auto if auto.shape == shape else None

    def save_auto_mask(
        self,
        image_id: str,
        mask: np.ndarray,
        version: str | None,
        by_person: bool = False,
        uncertainty: float | None = None,
    ) -> MaskRecord | None:
        """Store a model's mask. A batch (``by_person=False``) never replaces a person's
        mask: the state is checked again inside the transaction, and None is returned."""
        with self._transaction() as conn:
            current = self._read_row(conn, image_id)
            if not by_person and lifecycle.is_hand_made(current):
                self._records[image_id] = current
                return None
            new = lifecycle.after_auto_mask(current, version, by_person, uncertainty)
            self._write_file(self.auto_mask_path(image_id), mask)
            self.mask_path(image_id).unlink(missing_ok=True)
            return self._change(conn, image_id, new)

    def set_reviewed(
        self, image_id: str, reviewed: bool, mask: np.ndarray, force: bool = False
    ) -> MaskRecord:
        """Mark (or unmark) the shown mask ``mask`` as accepted by a person."""
        with self._transaction() as conn:
            current = self._check_conflict(conn, image_id, force)
            if reviewed:
                if current.has_auto and current.pixels_changed is None:
                    auto = self._read_auto_for(image_id, mask.shape)
                    if auto is not None:
                        changed = int(np.count_nonzero((mask != 0) != (auto != 0)))
                        current = replace(current, pixels_changed=changed)
                self._write_file(self.mask_path(image_id), mask)
            new = lifecycle.after_review(current, reviewed, not mask.any())
            if not new.has_edit:
                self.mask_path(image_id).unlink(missing_ok=True)
            return self._change(conn, image_id, new)

    def set_dice(self, image_id: str, dice: float | None) -> MaskRecord:
        with self._transaction() as conn:
            current = self._read_row(conn, image_id)
            new = replace(current, dice=None if dice is None else float(dice))
            return self._change(conn, image_id, new, bump=False)

    def add_seconds(self, image_id: str, seconds: float) -> MaskRecord:
        if seconds <= 0:
            return self.record(image_id)
        with self._transaction() as conn:
            current = self._read_row(conn, image_id)
            new = replace(current, seconds=round(current.seconds + seconds, 2))
            return self._change(conn, image_id, new, bump=False)

    def _write_file(self, path: Path, mask: np.ndarray) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_mask(path, mask)

    def put_records(self, records: dict[str, MaskRecord]) -> None:
        """Write many rows in one transaction, no files (imports, benchmarks at 100k scale).

        The caller vouches that the rows agree with the mask files on disk.
        """
        with self._transaction() as conn:
            for image_id, record in records.items():
                self._write_row(conn, image_id, record)
