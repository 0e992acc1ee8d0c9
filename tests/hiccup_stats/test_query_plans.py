"""How the statistics read the report tables; not timing tests.

An update's counter statements read only their window, through the
``created_at`` index, and find the days they add to through an index of the
daily tables: a sample fleet with planner statistics (``generate``
ends with ANALYZE) is reset up to the start of a six-hour window near its end,
then each counter statement is explained with the parameters an update binds.
EXPLAIN without ANALYZE runs nothing, so nothing is written. The tests fail
when a plan would read a report table or a daily table from end to end.

A reset reads each report table once, and skips the search for earlier copies
of a (device, date) pair only where a unique index rules them out.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hiccup_stats import sample_fleet, schema, statements
from hiccup_stats.config import COUNTERS, ENGINES, SOURCES, parse_settings

from tests import stats
from tests.factory import FINGERPRINT, utc

END = dt.date(2026, 3, 1)
WINDOW_END = dt.datetime(2026, 2, 27, 18, tzinfo=dt.UTC)
WINDOW_START = WINDOW_END - dt.timedelta(hours=6)
REPORT_TABLES = {source.table for source in SOURCES}
W0 = utc(2026, 2, 28)
DAY = dt.date(2026, 2, 27)
FOLDS = [(engine.name, counter.name) for engine in ENGINES for counter in COUNTERS]


def plan_nodes(plan: dict) -> list[dict]:
    """Return every node of an EXPLAIN (FORMAT JSON) plan, depth first."""
    nodes = [plan]
    for child in plan.get("Plans", []):
        nodes.extend(plan_nodes(child))
    return nodes


def add_retired_versions(connection, engine, versions=40, days=100) -> None:
    """Give an engine months of statistics of builds no longer in use.

    The daily table then holds about 4,500 rows, a few times what the sample
    fleet gives it: large enough that a handful of index probes cost less
    than reading it whole (below about 3,000 rows reading it is cheaper, and
    the planner rightly does), small enough that the planner, guessing the
    window's days from the whole history, reads it whole when a fold joins it
    instead of probing it day by day (a join read it whole up to about 6,000
    rows here).
    """
    counters = ", ".join(counter.name for counter in COUNTERS)
    zeros = ", ".join("0" for _ in COUNTERS)
    connection.execute(
        f"INSERT INTO {engine.version_table} ({engine.key_column},"
        " is_official_release, is_beta_release, first_seen_on, released_on,"
        f" {counters})"
        f" SELECT 'retired-' || n, false, false, '2020-01-01', '2020-01-01', {zeros}"
        " FROM generate_series(1, %s) AS n",
        (versions,),
    )
    connection.execute(
        f"INSERT INTO {engine.daily_table} (version_id, date, {counters})"
        f" SELECT version.id, date '2020-01-01' + day, {zeros}"
        f" FROM {engine.version_table} AS version,"
        " generate_series(0, %s - 1) AS day"
        f" WHERE version.{engine.key_column} LIKE 'retired-%%'",
        (days,),
    )


@pytest.fixture(scope="module")
def fleet_plans(database_conninfo):
    import psycopg

    with psycopg.connect(database_conninfo, autocommit=True) as connection:
        connection.execute("DROP SCHEMA IF EXISTS public CASCADE")
        connection.execute("CREATE SCHEMA public")
        connection.autocommit = False
        schema.create_hiccup_schema(connection)
        connection.autocommit = True
        rows = sample_fleet.generate(connection, devices=400, days=60, end=END)
        stats.reset(connection, WINDOW_START)
        for engine in ENGINES:
            add_retired_versions(connection, engine)
        connection.execute("ANALYZE")

        params = statements.parameters(parse_settings(None), WINDOW_END)
        plans = {}
        for engine in ENGINES:
            for counter in COUNTERS:
                (fold,) = statements.fold_counter(engine, counter)
                ((plan,),) = connection.execute(
                    f"EXPLAIN (FORMAT JSON) {fold}", params
                ).fetchall()
                plans[engine.name, counter.name] = (
                    engine,
                    counter,
                    plan_nodes(plan[0]["Plan"]),
                )
        yield rows, plans

        connection.execute("DROP SCHEMA public CASCADE")
        connection.execute("CREATE SCHEMA public")


def test_the_fleet_is_large_enough_for_the_planner_to_choose(fleet_plans):
    rows, plans = fleet_plans

    assert rows["crashreports_heartbeat"] > 20_000
    assert rows["crashreports_crashreport"] > 1_000
    assert len(plans) == len(ENGINES) * len(COUNTERS) == 8


@pytest.mark.parametrize(("engine", "counter"), FOLDS)
def test_a_counter_reads_its_window_through_the_created_at_index(
    fleet_plans, engine, counter
):
    _, plans = fleet_plans
    _, counted, nodes = plans[engine, counter]

    seq_scans = [
        node["Relation Name"]
        for node in nodes
        if node["Node Type"] == "Seq Scan" and node["Relation Name"] in REPORT_TABLES
    ]
    indexes = {node["Index Name"] for node in nodes if "Index Name" in node}

    assert seq_scans == []
    assert schema.created_at_index(counted.source.table) in indexes


@pytest.mark.parametrize(("engine", "counter"), FOLDS)
def test_a_counter_finds_the_days_it_adds_to_through_an_index(
    fleet_plans, engine, counter
):
    _, plans = fleet_plans
    folded, _, nodes = plans[engine, counter]
    daily_table = folded.daily_table

    reads = {
        node["Node Type"]
        for node in nodes
        if node.get("Relation Name") == daily_table
        and node["Node Type"] != "ModifyTable"
    }

    assert reads
    assert reads <= {"Index Scan", "Index Only Scan", "Bitmap Heap Scan"}


@pytest.mark.parametrize(
    ("index", "unique_pairs", "duplicate_possible"),
    [
        ("CREATE UNIQUE INDEX pairs ON {table} (device_id, date)", True, False),
        ("CREATE UNIQUE INDEX pairs ON {table} (date, device_id)", True, False),
        (
            "CREATE UNIQUE INDEX pairs ON {table} (device_id, date) INCLUDE (id)",
            True,
            False,
        ),
        ("CREATE INDEX pairs ON {table} (device_id, date)", False, True),
        (
            "CREATE UNIQUE INDEX pairs ON {table} (device_id, date, created_at)",
            False,
            True,
        ),
        (
            "CREATE UNIQUE INDEX pairs ON {table} (device_id, date)"
            " WHERE build_fingerprint = 'none'",
            False,
            True,
        ),
        ("CREATE UNIQUE INDEX pairs ON {table} (device_id, (date + 0))", False, False),
    ],
)
def test_the_reset_skips_the_duplicate_search_only_under_a_unique_pair_index(
    db, hiccup, index, unique_pairs, duplicate_possible
):
    hiccup.allow_duplicates()
    db.execute(
        "ALTER TABLE crashreports_crashreport"
        " ADD CONSTRAINT crash_report_pairs UNIQUE (device_id, date)"
    )
    db.execute(index.format(table="crashreports_heartbeat"))
    device = hiccup.device()
    # Received before the last late-commit look-back: the counts read them.
    hiccup.heartbeat(device, DAY, utc(2026, 2, 26, 20))
    if duplicate_possible:
        hiccup.heartbeat(device, DAY, utc(2026, 2, 26, 21), build_fingerprint="copy")
    params = statements.parameters(parse_settings(None), W0)
    (count,) = statements.rebuild_counts()

    with db.transaction():
        ((plan,),) = db.execute(
            f"EXPLAIN (ANALYZE, FORMAT JSON) {count}", params
        ).fetchall()
    stats.reset(db, W0)

    reads = {
        table: [
            node["Node Type"]
            for node in plan_nodes(plan[0]["Plan"])
            if node.get("Relation Name") == table and node["Actual Loops"] > 0
        ]
        for table in REPORT_TABLES
    }
    # Read once for the counts, and once more to search earlier copies.
    assert len(reads["crashreports_heartbeat"]) == (1 if unique_pairs else 2)
    assert len(reads["crashreports_crashreport"]) == 1
    counted = stats.read_statistics(db)["version"]
    assert {key: row["heartbeats"] for key, row in counted.items()} == {FINGERPRINT: 1}
