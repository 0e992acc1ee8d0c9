"""Check and prepare the Hiccup database before counting.

``check_schema`` tells exactly which table or column the statistics need and
cannot find; ``check_one_row_per_day`` that statistics made elsewhere can be
added to. ``ensure_indexes`` and ``ensure_progress`` add what this project
needs beside Django's schema (indexes on ``created_at`` of both report tables
and on (``version_id``, ``date``) of both daily tables, the progress and ledger
tables) without touching Django's columns; both are idempotent.
"""

from __future__ import annotations

import logging
from typing import Any

from hiccup_stats import statements
from hiccup_stats.config import (
    COUNTERS,
    ENGINES,
    METADATA_TABLE,
    SOURCES,
    SettingsError,
)

log = logging.getLogger(__name__)

TIMESTAMP = "timestamp with time zone"


class SchemaError(RuntimeError):
    """The Hiccup database lacks a table or column the statistics need."""


class DuplicateDaysError(RuntimeError):
    """A daily statistics table holds two rows for one version and day."""


def required_columns() -> dict[str, dict[str, str | None]]:
    """Return, per table, the columns read or written, with the type expected.

    Returns:
        Table name to column name to PostgreSQL data type (``None`` where any
        type will do).
    """
    counter_columns = {counter.name: "integer" for counter in COUNTERS}
    tables: dict[str, dict[str, str | None]] = {}
    for source in SOURCES:
        columns: dict[str, str | None] = {
            "id": None,
            "device_id": None,
            "date": TIMESTAMP if source.date_is_timestamp else "date",
            "created_at": TIMESTAMP,
        }
        columns.update({engine.key_column: None for engine in ENGINES})
        if any(c.boot_reasons and c.source == source for c in COUNTERS):
            columns["boot_reason"] = None
        tables[source.table] = columns
    for engine in ENGINES:
        tables[engine.version_table] = {
            "id": None,
            engine.key_column: None,
            "is_official_release": "boolean",
            "is_beta_release": "boolean",
            "first_seen_on": "date",
            "released_on": "date",
            **counter_columns,
        }
        tables[engine.daily_table] = {
            "id": None,
            "version_id": None,
            "date": "date",
            **counter_columns,
        }
    tables[METADATA_TABLE] = {"id": None, "updated_at": TIMESTAMP}
    return tables


def check_schema(connection: Any) -> None:
    """Raise if a table or column the statistics need is missing or mistyped.

    Args:
        connection: An open DB-API connection to the Hiccup database.

    Raises:
        SchemaError: Names every missing table, missing column and column of an
            unexpected type, and what to do about it.
    """
    required = required_columns()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name, data_type"
            " FROM information_schema.columns"
            " WHERE table_schema = ANY(current_schemas(false))"
            " AND table_name = ANY(%s)",
            (list(required),),
        )
        found: dict[str, dict[str, str]] = {}
        for table, column, data_type in cursor.fetchall():
            found.setdefault(table, {})[column] = data_type

    problems = []
    for table, columns in required.items():
        if table not in found:
            problems.append(f"table {table} is missing")
            continue
        for column, expected in columns.items():
            actual = found[table].get(column)
            if actual is None:
                problems.append(f"column {table}.{column} is missing")
            elif expected is not None and actual != expected:
                problems.append(
                    f"column {table}.{column} is {actual}, expected {expected}"
                )
    if problems:
        raise SchemaError(
            "The Hiccup database does not have the schema the statistics need: "
            + "; ".join(problems)
            + ". Point the connection 'hiccup_db' at a database migrated by the "
            "Hiccup Django application (or run `make demo` for a sample one)."
        )


def check_time_zone(connection: Any, time_zone: str) -> None:
    """Raise if PostgreSQL does not know the time zone of the settings.

    Python and PostgreSQL read different zone databases: a name that passed
    the settings' check must also be one the SQL can bucket days in.

    Args:
        connection: An open DB-API connection to the Hiccup database.
        time_zone: The IANA name from the settings.

    Raises:
        SettingsError: PostgreSQL does not know the name.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT FROM pg_timezone_names WHERE name = %s)",
            (time_zone,),
        )
        (known,) = cursor.fetchone()
    if not known:
        raise SettingsError(
            f"Setting 'time_zone' names {time_zone!r}, which this PostgreSQL server "
            "does not know (pg_timezone_names); expected an IANA name such as "
            "'Europe/Amsterdam'."
        )


def check_one_row_per_day(connection: Any) -> None:
    """Raise if a daily table holds two rows for one (version, day).

    Updates and resets keep one row per pair; statistics made elsewhere (an
    older Django command, a hand edit) may not, and an update would add its
    counts to each of the rows. It reads the daily tables whole, as the checks
    after each run do.

    Args:
        connection: An open DB-API connection to the Hiccup database.

    Raises:
        DuplicateDaysError: Names the tables, how many pairs, an example, and
            that a reset rebuilds them.
    """
    problems = []
    with connection.cursor() as cursor:
        for engine in ENGINES:
            cursor.execute(
                "SELECT count(*),"
                " min(format('version_id %s on %s', version_id, date))"
                " FROM (SELECT version_id, date"
                f" FROM {engine.daily_table}"
                " GROUP BY version_id, date HAVING count(*) > 1) AS pairs"
            )
            pairs, example = cursor.fetchone()
            if pairs:
                problems.append(
                    f"{engine.daily_table} holds {pairs} (version, day) pairs in "
                    f"two rows or more (e.g. {example})"
                )
    if problems:
        raise DuplicateDaysError(
            "; ".join(problems) + ". An update would add its counts to every row "
            "of such a pair. Trigger hiccup_stats_reset once: it rebuilds the "
            "statistics with one row per version and day, and updates continue "
            "from its cut-off."
        )


def created_at_index(table: str) -> str:
    """Return the name of this project's index on a report table's created_at."""
    return f"hiccup_stats_{table}_created_at"


def day_index(table: str) -> str:
    """Return the name of this project's index on a daily table's (version, day)."""
    return f"hiccup_stats_{table}_day"


def wanted_indexes() -> list[tuple[str, str, str]]:
    """Return the indexes this project adds: (name, table, columns).

    ``created_at`` of each report table lets an update read only its window;
    (``version_id``, ``date``) of each daily table lets it find the days it
    adds to without reading every day of the history.
    """
    indexes = [
        (created_at_index(source.table), source.table, "created_at")
        for source in SOURCES
    ]
    indexes += [
        (day_index(engine.daily_table), engine.daily_table, "version_id, date")
        for engine in ENGINES
    ]
    return indexes


def ensure_indexes(connection: Any) -> list[str]:
    """Create the indexes of ``wanted_indexes`` that are missing.

    Built ``CONCURRENTLY``, so Hiccup keeps receiving reports meanwhile; an
    invalid index left by an interrupted build is dropped and built again.

    Args:
        connection: An open DB-API connection in autocommit mode.

    Returns:
        The names of the indexes built now (empty when all existed).
    """
    built = []
    with connection.cursor() as cursor:
        for name, table, columns in wanted_indexes():
            cursor.execute(
                "SELECT index.indisvalid FROM pg_index AS index"
                " WHERE index.indexrelid = to_regclass(%s)",
                (name,),
            )
            row = cursor.fetchone()
            if row is not None and row[0]:
                continue
            if row is not None:
                log.warning("Dropping invalid index %s left by a failed build", name)
                cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
            log.info("Building index %s on %s (%s)", name, table, columns)
            cursor.execute(
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} ({columns})"
            )
            built.append(name)
    return built


def ensure_progress(connection: Any) -> None:
    """Create the progress table and the ledger and seed progress, under the lock.

    Args:
        connection: An open DB-API connection, not in autocommit mode.
    """
    with connection.cursor() as cursor:
        for statement in statements.lock() + statements.prepare_progress():
            cursor.execute(statement, {"lock_key": statements.ADVISORY_LOCK_KEY})
    connection.commit()


def create_hiccup_schema(connection: Any) -> None:
    """Create the Hiccup tables in an empty database (demo and tests only).

    Args:
        connection: An open DB-API connection; committed on return.
    """
    with connection.cursor() as cursor:
        for statement in statements.hiccup_schema():
            cursor.execute(statement)
    connection.commit()
