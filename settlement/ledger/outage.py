"""Which driver failures mean "the database is unavailable for now" (503, retry), not a bug (500).

The one translation from SQLAlchemy's exceptions to the domain's DatabaseUnavailable, so the API,
the CLIs and startup all say the same thing: a lock held past the busy timeout, a serialization
failure or deadlock, a dropped or refused connection. Anything else (a constraint, bad SQL, a
missing table) stays what it is.
"""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

from settlement.errors import DatabaseUnavailable
from settlement.redaction import redact_text

# SQLite reports everything as OperationalError; only these messages are an outage.
_SQLITE_OUTAGES = ("database is locked", "database table is locked", "database is busy", "unable to open database")
# PostgreSQL SQLSTATE classes and codes that a later retry can succeed past.
_PG_RETRYABLE_CLASSES = ("08", "53", "57")  # connection exception, insufficient resources, operator intervention
_PG_RETRYABLE_CODES = ("40001", "40P01", "55P03", "55006")  # serialization, deadlock, lock timeout, object in use

DATABASE_FAILURE_TYPES: tuple[type[Exception], ...] = (sa_exc.DBAPIError,)  # what database_unavailable looks at


def database_unavailable(exc: BaseException) -> DatabaseUnavailable | None:
    """The domain error for a transient database failure, or None if `exc` is not one."""
    if not isinstance(exc, sa_exc.DBAPIError):
        return None
    original = exc.orig
    message = str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__
    sqlstate = str(getattr(original, "sqlstate", "") or getattr(original, "pgcode", "") or "")
    sqlite = type(original).__module__.startswith("sqlite3")
    transient = (
        exc.connection_invalidated
        or isinstance(exc, sa_exc.InterfaceError)
        # psycopg raises a client-side failure to connect or a lost connection with no SQLSTATE
        or (isinstance(exc, sa_exc.OperationalError) and not sqlite and not sqlstate)
        or any(text in message.lower() for text in _SQLITE_OUTAGES)
        or sqlstate.startswith(_PG_RETRYABLE_CLASSES)
        or sqlstate in _PG_RETRYABLE_CODES
    )
    if not transient:
        return None
    return DatabaseUnavailable(
        f"the database is busy or unreachable ({redact_text(message)}); retry shortly", transient=True
    )
