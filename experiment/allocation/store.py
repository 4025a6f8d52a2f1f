"""Where a ledger lives: an SQLite file (one station) or a PostgreSQL database (several).

Both speak the same small SQL dialect (``?`` placeholders; translated for PostgreSQL) and give
the ledger one thing it relies on: :meth:`write` is a transaction that only one process in the
whole study holds at a time, so two stations can never take the same sequence position.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import urlsplit

from experiment.errors import AllocationError, first_line

LOCK_WAIT_S = 15

SCHEMA = [
    "CREATE TABLE ledger_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE ledger_sequence (stratum TEXT NOT NULL, position INTEGER NOT NULL, grp TEXT NOT NULL, "
    "PRIMARY KEY (stratum, position))",
    "CREATE TABLE ledger_entries (entry INTEGER PRIMARY KEY, kind TEXT NOT NULL, participant TEXT, "
    "stratum TEXT, grp TEXT, position INTEGER, replaces TEXT, status TEXT, replace_slot INTEGER, "
    "session TEXT, station TEXT NOT NULL, at TEXT NOT NULL, detail TEXT NOT NULL, "
    "prev_hash TEXT NOT NULL, hash TEXT NOT NULL)",
    # The database itself refuses a second allocation of an ID or of a sequence position.
    "CREATE UNIQUE INDEX one_allocation_per_participant ON ledger_entries (participant) WHERE kind = 'allocation'",
    "CREATE UNIQUE INDEX one_participant_per_position ON ledger_entries (stratum, position) "
    "WHERE kind = 'allocation' AND position IS NOT NULL",
]


class DuplicateEntry(Exception):
    """The database refused a second allocation of an ID or a position (a concurrent race)."""


def is_database_url(location: str | Path) -> bool:
    return str(location).startswith(("postgresql://", "postgres://"))


def describe_location(location: str | Path) -> str:
    """The ledger's location without a password, for messages and session.json."""
    if not is_database_url(location):
        return str(location)
    url = urlsplit(str(location))
    host = url.hostname or "localhost"
    user = f"{url.username}@" if url.username else ""
    return f"postgresql://{user}{host}{f':{url.port}' if url.port else ''}{url.path}"


def open_store(location: str | Path, create: bool = False):
    """The store at ``location``. Without ``create`` it must already hold a ledger; with it,
    the caller makes the ledger inside one write transaction (see :func:`create_schema`)."""
    if not create and not is_database_url(location) and not Path(location).exists():
        raise _no_ledger(str(location))  # opening never creates the file
    store = PostgresStore(str(location)) if is_database_url(location) else SqliteStore(Path(location), create)
    if not create and not store.has_ledger():
        store.close()
        raise _no_ledger(store.where)
    return store


def _no_ledger(where: str) -> AllocationError:
    return AllocationError(
        f"There is no allocation ledger at {where}: check the path or URL, "
        "or create it once with 'python -m experiment allocation init'."
    )


def create_schema(store) -> None:
    """Make the ledger's tables (inside the caller's write transaction); never over an existing one."""
    if store.has_ledger():
        raise AllocationError(
            f"An allocation ledger already exists at {store.where}: it is never overwritten; "
            "choose another path (or database) for a new study."
        )
    for statement in SCHEMA:
        store.execute(statement)


class SqliteStore:
    def __init__(self, path: Path, create: bool) -> None:
        self.where = str(path)
        try:
            if create:
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=LOCK_WAIT_S, isolation_level=None)
        except OSError as err:
            raise AllocationError(
                f"Cannot create the allocation ledger {self.where} ({err.strerror}): choose a folder you may write to."
            ) from None
        except sqlite3.OperationalError as err:
            raise AllocationError(
                f"Cannot open the allocation ledger {self.where} ({err}): check that you may read and write "
                "it and its folder."
            ) from None
        except sqlite3.DatabaseError as err:
            raise self._unusable(err) from None
        if create:
            path.chmod(0o600)  # the sequence is inside: readable only by the study's account

    def _unusable(self, err: Exception) -> AllocationError:
        """One true sentence: only a damaged file is called damaged. A full disk or a folder
        that has gone leaves the ledger as it was (SQLite wrote nothing half)."""
        name = getattr(err, "sqlite_errorname", "")
        if name == "SQLITE_FULL":
            return AllocationError(
                f"The disk holding the allocation ledger {self.where} is full, so nothing could be added to it: "
                "the ledger is intact and unchanged; free space on that disk and try again."
            )
        if name == "SQLITE_READONLY_DBMOVED" or not Path(self.where).exists():
            return AllocationError(
                f"The allocation ledger {self.where} is no longer there (its folder was deleted or its drive "
                "disconnected), so nothing could be added to it: reconnect the drive or restore the folder "
                "before the next session."
            )
        if name.startswith(("SQLITE_READONLY", "SQLITE_IOERR", "SQLITE_CANTOPEN", "SQLITE_PERM")):
            return AllocationError(
                f"The allocation ledger {self.where} cannot be written ({err}), so nothing was added to it: "
                "check that its disk is connected and that you may write the file and its folder."
            )
        return AllocationError(
            f"The allocation ledger {self.where} cannot be read ({err}): it is damaged or not a ledger; "
            "restore it from the backup or ask the study's data manager."
        )

    def has_ledger(self) -> bool:
        try:
            row = self._db.execute("SELECT name FROM sqlite_master WHERE name = 'ledger_entries'").fetchone()
        except sqlite3.DatabaseError as err:
            raise self._unusable(err) from None
        return row is not None

    def execute(self, sql: str, params: tuple = ()) -> list[tuple]:
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.IntegrityError as err:
            raise DuplicateEntry(str(err)) from None
        except sqlite3.DatabaseError as err:
            raise self._unusable(err) from None

    @contextmanager
    def write(self):
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as err:
            raise AllocationError(
                f"The allocation ledger {self.where} is locked by another program ({err}): "
                "wait a moment and try again; if it stays locked, close other programs using it."
            ) from None
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException as err:
            if self._db.in_transaction:  # SQLite already rolled back after some faults (a full disk)
                with suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
            if isinstance(err, sqlite3.DatabaseError):
                raise self._unusable(err) from None
            raise

    def close(self) -> None:
        self._db.close()


class PostgresStore:
    def __init__(self, url: str) -> None:
        import psycopg

        self._psycopg = psycopg
        self.where = describe_location(url)
        try:
            self._db = psycopg.connect(url, autocommit=True, connect_timeout=10)
        except psycopg.Error as err:
            raise AllocationError(
                f"Cannot reach the allocation ledger database {self.where} ({first_line(err)}): check the "
                "network, that the database server runs, and the user and password in the URL."
            ) from None

    def has_ledger(self) -> bool:
        return self.execute("SELECT to_regclass('ledger_entries') IS NOT NULL")[0][0]

    def execute(self, sql: str, params: tuple = ()) -> list[tuple]:
        try:
            cursor = self._db.execute(sql.replace("?", "%s"), params)
            return cursor.fetchall() if cursor.description else []
        except self._psycopg.errors.UniqueViolation:
            raise DuplicateEntry(sql) from None
        except self._psycopg.errors.LockNotAvailable:
            raise AllocationError(
                f"The allocation ledger {self.where} stayed locked for {LOCK_WAIT_S} s by another station: "
                "try again; if it persists, ask the data manager to check the database."
            ) from None
        except self._psycopg.Error as err:
            raise AllocationError(
                f"The allocation ledger database {self.where} refused a request ({first_line(err)}): "
                "check the network and the database, then try again; nothing was allocated."
            ) from None

    @contextmanager
    def write(self):
        with self._db.transaction():
            # One writer in the whole study at a time; readers are never blocked.
            self.execute(f"SET LOCAL lock_timeout = '{LOCK_WAIT_S}s'")
            if self.has_ledger():
                self.execute("LOCK TABLE ledger_entries IN SHARE ROW EXCLUSIVE MODE")
            yield

    def close(self) -> None:
        self._db.close()
