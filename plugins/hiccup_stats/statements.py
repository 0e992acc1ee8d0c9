"""The SQL statements of the statistics, rendered from ``sql/*.sql``.

Templates receive identifiers only from ``config`` (the whitelist); every
value (window end, time zone, boot reasons, lock key) stays a bound
parameter, named in ``parameters``.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Any

import jinja2
import sqlparse

from hiccup_stats.config import (
    ADVISORY_LOCK_KEY,
    COUNTERS,
    ENGINES,
    LEDGER_TABLE,
    METADATA_TABLE,
    PROGRESS_TABLE,
    SOURCES,
    Counter,
    Engine,
    Settings,
)

SQL_FOLDER = Path(__file__).parent / "sql"

_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(SQL_FOLDER),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,
)


@functools.cache
def _render(name: str, **identifiers: Any) -> tuple[str, ...]:
    text = _templates.get_template(name).render(
        counters=COUNTERS,
        engines=ENGINES,
        ledger_table=LEDGER_TABLE,
        metadata_table=METADATA_TABLE,
        progress_table=PROGRESS_TABLE,
        **identifiers,
    )
    return tuple(
        statement.strip().rstrip(";")
        for statement in sqlparse.split(text)
        if statement.strip()
    )


def lock() -> list[str]:
    """Return the statement that takes the statistics' advisory lock."""
    return list(_render("lock.sql"))


def fold_counter(engine: Engine, counter: Counter) -> list[str]:
    """Return the statement that folds one counter of one engine.

    Args:
        engine: The engine whose tables are written.
        counter: The counter counted.

    Returns:
        One statement; it returns one summary row (engine, counter,
        counted_from, counted_until, reports, versions_created,
        versions_updated, days_created, days_updated).
    """
    return list(_render("fold_counter.sql", engine=engine, counter=counter))


def record_metadata() -> list[str]:
    """Return the statement that records a counted window end."""
    return list(_render("record_metadata.sql"))


def clear_stats() -> list[str]:
    """Return the statements that empty the statistics and progress marks."""
    return list(_render("clear_stats.sql"))


def prepare_progress() -> list[str]:
    """Return the statements that create and seed the progress table."""
    return list(_render("prepare_progress.sql"))


def update_counter(engine: Engine, counter: Counter) -> list[str]:
    """Return the transaction of one counter task of the update DAG."""
    return lock() + fold_counter(engine, counter)


def update_metadata() -> list[str]:
    """Return the transaction of the update DAG's metadata task."""
    return lock() + record_metadata()


def rebuild() -> list[str]:
    """Return the reset transaction: clear, count every report once, record.

    One statement reads each report table once (``rebuild_count.sql``) into a
    small temporary table of counts per build, radio version and day, up to
    ``late_commit_lookback`` before the cut-off; each engine is folded from
    those counts (``rebuild_fold.sql``), which also moves its progress marks
    there. The eight counter folds then count the rest up to the cut-off and
    fill the ledger of recently counted reports, as an update does. The
    numbers are those of the folds over everything received up to the cut-off.
    The temporary table needs the TEMPORARY privilege on the database, which
    PostgreSQL grants to every user by default.
    """
    folds = [
        statement
        for engine in ENGINES
        for counter in COUNTERS
        for statement in fold_counter(engine, counter)
    ]
    return (
        lock()
        + clear_stats()
        + rebuild_counts()
        + rebuild_folds()
        + folds
        + record_metadata()
    )


def parameters(settings: Settings, window_end: Any) -> dict[str, Any]:
    """Return the bound parameters shared by every statement.

    Args:
        settings: The validated settings.
        window_end: The end of the window counted (a timestamp with time zone,
            or a string PostgreSQL casts to one).

    Returns:
        The parameters by name.
    """
    return {
        "lock_key": ADVISORY_LOCK_KEY,
        "window_end": window_end,
        "time_zone": settings.time_zone,
        "late_commit_lookback": dt.timedelta(hours=settings.late_commit_lookback_hours),
        **{
            f"boot_reasons_{counter.name}": settings.boot_reasons_for(counter)
            for counter in COUNTERS
            if counter.boot_reasons
        },
    }


def hiccup_schema() -> list[str]:
    """Return the statements that create the Hiccup tables in an empty database."""
    return list(_render("hiccup_schema.sql"))


def rebuild_counts() -> list[str]:
    """Return the statement that counts every report table once for a reset."""
    return list(_render("rebuild_count.sql", sources=SOURCES))


def rebuild_folds() -> list[str]:
    """Return the statements that fold a reset's counts into each engine."""
    return [
        statement
        for engine in ENGINES
        for statement in _render("rebuild_fold.sql", engine=engine)
    ]


def check_engine(engine: Engine) -> str:
    """Return the data-quality check of one engine's tables (one result row)."""
    (statement,) = _render("check_engine.sql", engine=engine)
    return statement


def check_metadata() -> str:
    """Return the data-quality check of the stats metadata (one result row)."""
    (statement,) = _render("check_metadata.sql")
    return statement
