"""Load the golden Hiccup dataset (``../shared/golden``) into a database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg

TABLES = (
    "auth_user",
    "crashreports_device",
    "crashreports_heartbeat",
    "crashreports_crashreport",
)

COMPARED = ("version", "version_daily", "radio_version", "radio_version_daily")


def load(connection: psycopg.Connection, golden: Path) -> None:
    """Create the real Django schema and copy the golden CSV files into it."""
    connection.execute((golden / "hiccup_django_schema.sql").read_text())
    # The dump empties search_path for its session; give it back.
    connection.execute("SET search_path TO public")
    for table in TABLES:
        path = golden / "small" / f"{table}.csv"
        with path.open() as csv_file:
            columns = csv_file.readline().strip()
            with connection.cursor().copy(
                f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)"
            ) as copy:
                copy.write(csv_file.read())


def expected(golden: Path, name: str) -> dict[str, Any]:
    """Return an expected result, e.g. ``after_update_W1``."""
    return json.loads((golden / "small" / "expected" / f"{name}.json").read_text())


def comparable(statistics: dict[str, Any]) -> dict[str, Any]:
    """Keep the tables and metadata, the parts a result is compared on."""
    return {
        **{name: statistics[name] for name in COMPARED},
        "stats_metadata": statistics["stats_metadata"],
    }
