"""The benchmark (``make bench``) on tiny fleets: it runs and reports."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[1]

TINY = {"10k": (12, 6), "1m": (20, 6), "10m": (20, 12)}
TIMES = ("reset", "floor", "update")


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location(
        "hiccup_bench", ROOT / "bench" / "bench.py"
    )
    module = importlib.util.module_from_spec(spec)
    # Dataclasses look their module up while the module is being executed.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


@pytest.fixture
def prefix(postgres_server):
    prefix = f"hiccup_bench_test_{os.getpid()}"
    yield prefix
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        for name in TINY:
            admin.execute(f'DROP DATABASE IF EXISTS "{prefix}_{name}" WITH (FORCE)')


def test_the_benchmark_measures_every_figure(bench, postgres_server, prefix, tmp_path):
    fleets = {name: bench.Fleet(*size) for name, size in TINY.items()}

    figures = bench.run(
        postgres_server,
        tmp_path / "data",
        tmp_path,
        fleets,
        repetitions=1,
        update_repetitions=1,
        database_prefix=prefix,
    )

    written = json.loads((tmp_path / "results.json").read_text())
    assert written == figures
    assert (tmp_path / "results.png").read_bytes().startswith(b"\x89PNG")
    for name in TINY:
        assert figures[f"heartbeats_{name}"] > 0
        assert figures[f"crash_reports_{name}"] > 0
        for time in TIMES:
            assert figures[f"{time}_{name}"] > 0
    assert figures["peak_rss_10k"] > 0
    assert figures["peak_rss_10m"] > 0
    assert set(figures["ratios"]) == {
        "reset_10k/floor_10k",
        "reset_1m/floor_1m",
        "reset_10m/floor_10m",
        "update_10m/update_1m",
        "peak_rss_10m/peak_rss_10k",
    }
    assert all(ratio > 0 for ratio in figures["ratios"].values())
    dag_test = figures["dag_test_update_1m"]
    assert set(dag_test) == {"wall_first_run", "wall", "tasks", "sql", "airflow"}
    assert all(dag_test[key] > 0 for key in ("wall_first_run", "wall", "tasks", "sql"))


def test_a_fleet_already_built_is_reused(bench, postgres_server, prefix):
    fleet = bench.Fleet(12, 6)
    database = f"{prefix}_10k"

    first = bench.ensure_fleet(postgres_server, database, fleet)
    with psycopg.connect(first[0], autocommit=True) as connection:
        connection.execute("CREATE TABLE built_before (id integer)")
    again = bench.ensure_fleet(postgres_server, database, fleet)
    with psycopg.connect(again[0], autocommit=True) as connection:
        kept = connection.execute("SELECT to_regclass('built_before')").fetchone()[0]
    other = bench.ensure_fleet(postgres_server, database, bench.Fleet(12, 7))
    with psycopg.connect(other[0], autocommit=True) as connection:
        rebuilt = connection.execute("SELECT to_regclass('built_before')").fetchone()[0]

    assert again == first
    assert kept == "built_before"
    assert rebuilt is None
    assert other[1]["crashreports_heartbeat"] > first[1]["crashreports_heartbeat"]
