"""Run the statistics statements directly, and read the statistics back.

``update`` and ``reset`` run the same statements, in the same transactions,
as the DAG tasks do; they spare the unit tests Airflow's start-up. The DAG
tests run the real DAGs.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
from hiccup_stats import schema, statements
from hiccup_stats.config import (
    COUNTERS,
    ENGINES,
    Engine,
    Settings,
    parse_settings,
)

TABLES = ("version", "version_daily", "radio_version", "radio_version_daily")
"""The statistics tables of ``read_statistics`` that ``reference`` counts."""


def tables(statistics: dict[str, Any]) -> dict[str, Any]:
    """Return the tables of ``read_statistics`` that ``reference`` counts."""
    return {name: statistics[name] for name in TABLES}


def engine_named(name: str) -> Engine:
    (engine,) = [engine for engine in ENGINES if engine.name == name]
    return engine


def counter_task(engine_name: str, counter_name: str) -> list[str]:
    """Return the statements of one counter task of an update, by names."""
    (counter,) = [counter for counter in COUNTERS if counter.name == counter_name]
    return statements.update_counter(engine_named(engine_name), counter)


def read_progress(connection: psycopg.Connection) -> list[tuple]:
    """Return each counter's progress row and how many reports its ledger holds."""
    return connection.execute(
        "SELECT engine, counter, counted_until, remembered_since,"
        " (SELECT count(*) FROM hiccup_stats_counted AS counted"
        "  WHERE counted.engine = progress.engine"
        "  AND counted.counter = progress.counter)"
        " FROM hiccup_stats_progress AS progress ORDER BY engine, counter"
    ).fetchall()


def _transaction(
    connection: psycopg.Connection, sql: list[str], params: dict[str, Any]
) -> list[tuple]:
    with connection.transaction():
        for statement in sql:
            cursor = connection.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def prepare(connection: psycopg.Connection) -> None:
    """Do what the DAGs' prepare_database task does."""
    schema.check_schema(connection)
    schema.ensure_indexes(connection)
    connection.autocommit = False
    schema.ensure_progress(connection)
    connection.autocommit = True


def update(
    connection: psycopg.Connection,
    window_end: dt.datetime,
    settings: Settings | None = None,
) -> None:
    """Run every counter task of an update, then its metadata task."""
    params = statements.parameters(settings or parse_settings(None), window_end)
    prepare(connection)
    for engine in ENGINES:
        for counter in COUNTERS:
            _transaction(connection, statements.update_counter(engine, counter), params)
    _transaction(connection, statements.update_metadata(), params)


def count_one(
    connection: psycopg.Connection,
    window_end: dt.datetime,
    engine_name: str,
    counter_name: str,
) -> list[tuple]:
    """Run one counter task of an update; return its summary rows."""
    params = statements.parameters(parse_settings(None), window_end)
    prepare(connection)
    return _transaction(connection, counter_task(engine_name, counter_name), params)


def reset(
    connection: psycopg.Connection,
    up_to: dt.datetime,
    settings: Settings | None = None,
) -> None:
    """Run the reset's rebuild transaction."""
    params = statements.parameters(settings or parse_settings(None), up_to)
    prepare(connection)
    _transaction(connection, statements.rebuild(), params)


def read_statistics(connection: psycopg.Connection) -> dict[str, Any]:
    """Return the statistics in the golden files' format (without totals)."""
    result: dict[str, Any] = {}
    counters = [counter.name for counter in COUNTERS]
    for engine, name in zip(ENGINES, ("version", "radio_version"), strict=False):
        versions = {}
        for row in connection.execute(
            f"SELECT {engine.key_column}, first_seen_on, released_on,"
            f" is_official_release, is_beta_release, {', '.join(counters)}"
            f" FROM {engine.version_table}"
        ):
            key, first_seen_on, released_on, official, beta, *counts = row
            versions[key] = {
                "first_seen_on": first_seen_on.isoformat(),
                "released_on": released_on.isoformat(),
                "is_official_release": official,
                "is_beta_release": beta,
                **dict(zip(counters, counts, strict=False)),
            }
        daily: dict[str, dict[str, dict[str, int]]] = {}
        for row in connection.execute(
            f"SELECT version.{engine.key_column}, daily.date,"
            f" {', '.join('daily.' + c for c in counters)}"
            f" FROM {engine.daily_table} AS daily"
            f" JOIN {engine.version_table} AS version ON version.id = daily.version_id"
        ):
            key, day, *counts = row
            days = daily.setdefault(key, {})
            assert day.isoformat() not in days, f"two daily rows for {key} {day}"
            days[day.isoformat()] = dict(zip(counters, counts, strict=False))
        result[name] = versions
        result[f"{name}_daily"] = daily
    result["stats_metadata"] = {
        "updated_at": [
            updated_at.astimezone(dt.UTC).isoformat()
            for (updated_at,) in connection.execute(
                "SELECT updated_at FROM crashreport_stats_statsmetadata ORDER BY 1"
            )
        ]
    }
    return result
