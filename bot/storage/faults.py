"""This module contains the translation of SQLite failures into `StorageError`.

Only faults of the file or the machine are translated (disk full, locked too long, I/O,
damage, read-only); an error in our own SQL stays a `sqlite3` error, because it is a bug to
see in the log, not a condition to wait out.
"""

from __future__ import annotations

import sqlite3

from bot.errors import StorageError

# Primary result codes (the low byte of an extended code such as SQLITE_IOERR_WRITE).
_BUSY, _LOCKED, _NOMEM, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = (
    5, 6, 7, 8, 10, 11, 13, 14, 26)


def storage_fault(exc: sqlite3.Error, path: str, waited: float) -> StorageError | None:
    """The StorageError an SQLite failure stands for, or None when it is not a storage fault."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    text = str(exc).lower()
    where = "the in-memory database" if path == ":memory:" else path
    if primary == _FULL or "disk is full" in text:
        return StorageError(f"the disk is full (or {where} reached its size limit)")
    if primary in (_BUSY, _LOCKED) or "database is locked" in text:
        return StorageError(f"{where} is locked by another process (waited {waited:g} s)")
    if primary == _IOERR or "disk i/o error" in text:
        return StorageError(f"the disk could not read or write {where} (I/O error)")
    if primary in (_CORRUPT, _NOTADB) or "disk image is malformed" in text:
        return StorageError(
            f"{where} is damaged (database disk image is malformed): restore it from a backup, "
            "or try `sqlite3 FILE .recover`", transient=False)
    if primary == _READONLY:
        return StorageError(f"{where} is read-only: wirewatch cannot write to it")
    if primary == _CANTOPEN:
        return StorageError(f"cannot open {where} (its folder is gone or not writable)")
    if primary == _NOMEM:
        return StorageError("out of memory while using the database")
    return None
