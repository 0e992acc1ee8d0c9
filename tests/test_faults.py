"""Faults and races on a real PostgreSQL: killed tasks, restarts, concurrent runs.

Each fault is injected where it hurts most: inside a writing transaction that
another client's row lock holds in the middle of its statement. The statistics
must then be exactly as before, readers must keep seeing the old rows, and the
retry must count every report once (``reference.expected_statistics``).
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import sys
import time
from dataclasses import dataclass

import psycopg
import pytest
from hiccup_stats import schema, statements
from hiccup_stats.config import COUNTERS, ENGINES, parse_settings
from psycopg.conninfo import make_conninfo

from tests import faults, reference, stats
from tests.factory import FINGERPRINT, HiccupFactory, utc
from tests.faults import (
    WAIT_SECONDS,
    Calling,
    Injector,
    KillFirstBlocked,
    OwnServer,
    ReleaseWhenWaiting,
    RowLock,
    Transactions,
)
from tests.random_fleet import insert_random_fleet

# The random fleet's windows (reports are received 2026-02-26 to 03-01 05:00).
RESET = utc(2026, 2, 27, 0)
T1 = utc(2026, 2, 27, 18)
T2 = utc(2026, 2, 28, 0)
T3 = utc(2026, 2, 28, 6)
T4 = utc(2026, 2, 28, 12)
T5 = utc(2026, 2, 28, 18)

NEW_BUILD = "Fairphone/FP2/FP2:7.1.2/26.1.0/gms-new:user/release-keys"
SMPL_RADIO = "4437.1-FP2-0-99-smpl"


def iso(moment: dt.datetime) -> str:
    return moment.isoformat()


def fold_time(moment: dt.datetime) -> str:
    """Return a window bound as a fold's summary row writes it."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def params(window_end: dt.datetime) -> dict:
    return statements.parameters(parse_settings(None), window_end)


def marks(connection: psycopg.Connection) -> dict[tuple[str, str], dt.datetime]:
    return {
        (engine, counter): until
        for engine, counter, until, *_ in stats.read_progress(connection)
    }


def state(connection: psycopg.Connection) -> tuple[dict, list[tuple]]:
    """Return everything the statistics consist of: tables, metadata, marks."""
    return stats.read_statistics(connection), stats.read_progress(connection)


def total(expected: dict, engine: str, counter: str) -> int:
    return sum(version[counter] for version in expected[engine].values())


def grand_total(expected: dict) -> int:
    return sum(
        total(expected, engine.name, counter.name)
        for engine in ENGINES
        for counter in COUNTERS
    )


@dataclass(frozen=True)
class Killed:
    """What was seen of transactions killed while blocked on another's row lock."""

    wrote: bool
    locked_out: bool
    seen_meanwhile: tuple


def kill_when_blocked(
    injector: Injector,
    row_lock: RowLock,
    transactions: Transactions,
    fleet: psycopg.Connection,
    label: str,
) -> Killed:
    """Start transactions, terminate their backend once it waits on row_lock."""
    transactions.start()
    try:
        injector.wait_blocked(transactions.pid, row_lock.pid)
        killed = Killed(
            wrote=injector.has_written(transactions.pid),
            locked_out=injector.holds_advisory_lock(transactions.pid),
            seen_meanwhile=state(fleet),
        )
        injector.terminate(transactions.pid, label)
        transactions.join(WAIT_SECONDS)
    finally:
        row_lock.release()
    return killed


def count_all_but(connection, window_end, skipped: tuple[str, str] | None) -> None:
    """Run every counter task of an update but one (no metadata)."""
    for engine in ENGINES:
        for counter in COUNTERS:
            if (engine.name, counter.name) != skipped:
                stats.count_one(connection, window_end, engine.name, counter.name)


def forget_statistics(connection: psycopg.Connection) -> None:
    """Empty the statistics and drop the progress marks, as before a first run."""
    with connection.transaction():
        for engine in ENGINES:
            connection.execute(f"DELETE FROM {engine.daily_table}")
            connection.execute(f"DELETE FROM {engine.version_table}")
        connection.execute("DELETE FROM crashreport_stats_statsmetadata")
        connection.execute("DROP TABLE hiccup_stats_progress")


@pytest.fixture
def injector(database_conninfo, db):
    # Indexes are built CONCURRENTLY, which waits for open transactions: build
    # them before any test holds one open.
    stats.prepare(db)
    db.execute("SET statement_timeout = '20s'")
    watcher = Injector(database_conninfo)
    yield watcher
    watcher.close()


@pytest.fixture
def fleet(db, hiccup):
    hiccup.allow_duplicates()
    insert_random_fleet(hiccup, seed=7, start=utc(2026, 2, 26), end=utc(2026, 3, 1, 5))
    return db


@pytest.fixture(scope="module", autouse=True)
def fault_report(request):
    """Say, after the module, how many faults its tests injected."""
    before = faults.INJECTED.copy()
    yield
    plugins = request.config.pluginmanager
    reporter = plugins.get_plugin("terminalreporter")
    capture = plugins.get_plugin("capturemanager")
    injected = faults.INJECTED - before
    if reporter is not None and capture is not None and injected:
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(injected.items()))
        with capture.global_and_fixture_disabled():
            reporter.write_line(
                f"\n{__name__}: {injected.total()} faults injected ({kinds})"
            )


# 1. A task killed in the middle of its statement.


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("engine_name", "counter_name", "locked"),
    [
        ("version", "heartbeats", "version row"),
        ("radio_version", "prob_crashes", "daily row"),
    ],
)
def test_a_fold_killed_inside_its_statement_leaves_no_trace_and_its_retry_counts_once(
    fleet, injector, database_conninfo, engine_name, counter_name, locked
):
    engine = stats.engine_named(engine_name)
    stats.reset(fleet, RESET)
    stats.update(fleet, T1)
    count_all_but(fleet, T2, skipped=(engine_name, counter_name))
    counted, expected = (
        reference.expected_statistics(fleet, T1),
        reference.expected_statistics(fleet, T2),
    )
    # A version or day the fold must add to: one counted already, growing now.
    grown = sorted(
        (key, day)
        for key, days in expected[f"{engine_name}_daily"].items()
        for day, numbers in days.items()
        if day in counted[f"{engine_name}_daily"].get(key, {})
        and numbers[counter_name]
        > counted[f"{engine_name}_daily"][key][day][counter_name]
    )
    key, day = grown[0]
    if locked == "version row":
        lock_sql = (
            f"SELECT id FROM {engine.version_table}"
            f" WHERE {engine.key_column} = %s FOR UPDATE"
        )
        lock_params = (key,)
    else:
        lock_sql = (
            f"SELECT daily.id FROM {engine.daily_table} AS daily"
            f" JOIN {engine.version_table} AS version ON version.id = daily.version_id"
            f" WHERE version.{engine.key_column} = %s AND daily.date = %s"
            " FOR UPDATE OF daily"
        )
        lock_params = (key, day)
    before = state(fleet)

    row_lock = RowLock(database_conninfo, lock_sql, lock_params)
    fold = Transactions(
        database_conninfo,
        [stats.counter_task(engine_name, counter_name)],
        params(T2),
    )
    killed = kill_when_blocked(
        injector, row_lock, fold, fleet, f"{engine_name} / {counter_name} fold"
    )

    assert len(row_lock.rows) == 1
    assert killed.wrote is True
    assert killed.locked_out is True
    assert killed.seen_meanwhile == before
    assert isinstance(fold.error, psycopg.OperationalError)
    assert state(fleet) == before
    assert marks(fleet)[(engine_name, counter_name)] == T1

    (retry,) = stats.count_one(fleet, T2, engine_name, counter_name)
    stats.update(fleet, T2)

    grew_by = total(expected, engine_name, counter_name) - total(
        counted, engine_name, counter_name
    )
    assert grew_by > 0
    assert retry[:5] == (
        engine_name,
        counter_name,
        fold_time(T1),
        fold_time(T2),
        grew_by,
    )
    result = stats.read_statistics(fleet)
    assert stats.tables(result) == expected
    assert result["stats_metadata"]["updated_at"] == [iso(RESET), iso(T1), iso(T2)]
    assert set(marks(fleet).values()) == {T2}
    assert injector.injected == [
        f"backend terminated: {engine_name} / {counter_name} fold"
    ]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("blocked_while", ["deleting", "inserting"])
def test_a_rebuild_killed_midway_keeps_the_old_statistics_visible_and_complete(
    fleet, hiccup, injector, database_conninfo, blocked_while
):
    # A build first received after the old statistics were counted.
    hiccup.heartbeat(
        hiccup.device(), dt.date(2026, 2, 28), utc(2026, 2, 28, 3), NEW_BUILD
    )
    stats.reset(fleet, RESET)
    stats.update(fleet, T1)
    before = state(fleet)
    assert NEW_BUILD not in before[0]["version"]
    assert len(before[0]["radio_version"]) == 3

    if blocked_while == "deleting":
        # The rebuild has emptied three tables when it reaches this row.
        lock_sql = (
            "SELECT id FROM crashreport_stats_radioversion"
            " WHERE radio_version = %s FOR UPDATE"
        )
        lock_params = (min(before[0]["radio_version"]),)
    else:
        # The rebuild has emptied every table, counted every report and is
        # inserting versions when it meets this uncommitted one.
        lock_sql = (
            "INSERT INTO crashreport_stats_version (build_fingerprint,"
            " is_official_release, is_beta_release, first_seen_on, released_on,"
            " heartbeats, prob_crashes, smpl, other)"
            " VALUES (%s, false, false, '2026-02-28', '2026-02-28', 1, 0, 0, 0)"
            " RETURNING id"
        )
        lock_params = (NEW_BUILD,)

    row_lock = RowLock(database_conninfo, lock_sql, lock_params)
    rebuild = Transactions(database_conninfo, [statements.rebuild()], params(T4))
    killed = kill_when_blocked(
        injector, row_lock, rebuild, fleet, f"reset rebuild while {blocked_while}"
    )

    assert len(row_lock.rows) == 1
    assert killed.wrote is True
    assert killed.seen_meanwhile == before
    assert isinstance(rebuild.error, psycopg.OperationalError)
    assert state(fleet) == before

    stats.reset(fleet, T4)

    result = stats.read_statistics(fleet)
    assert stats.tables(result) == reference.expected_statistics(fleet, T4)
    assert result["version"][NEW_BUILD]["heartbeats"] == 1
    assert result["stats_metadata"]["updated_at"] == [iso(T4)]
    assert set(marks(fleet).values()) == {T4}
    assert injector.injected == [
        f"backend terminated: reset rebuild while {blocked_while}"
    ]


@pytest.mark.timeout(60)
def test_a_metadata_task_killed_inside_its_insert_records_nothing_until_its_retry(
    fleet, injector, database_conninfo
):
    stats.reset(fleet, RESET)
    stats.update(fleet, T1)
    count_all_but(fleet, T2, skipped=None)
    before = state(fleet)
    assert before[0]["stats_metadata"]["updated_at"] == [iso(RESET), iso(T1)]

    # Another client takes the next metadata id without committing: the
    # metadata insert writes its row, then waits on the primary key.
    row_lock = RowLock(
        database_conninfo,
        "WITH sequence AS (SELECT pg_get_serial_sequence("
        "'crashreport_stats_statsmetadata', 'id')::regclass AS name)"
        " INSERT INTO crashreport_stats_statsmetadata (id, updated_at)"
        " SELECT setval(name, nextval(name), false), '2000-01-01T00:00:00+00:00'"
        " FROM sequence RETURNING id",
    )
    recording = Transactions(
        database_conninfo, [statements.update_metadata()], params(T2)
    )
    killed = kill_when_blocked(injector, row_lock, recording, fleet, "record_metadata")

    assert killed.wrote is True
    assert killed.seen_meanwhile == before
    assert isinstance(recording.error, psycopg.OperationalError)
    assert state(fleet) == before

    retry = Transactions(database_conninfo, [statements.update_metadata()], params(T2))
    retry.start()
    assert retry.finish().error is None

    assert retry.rows == [[(T2,)]]
    result = stats.read_statistics(fleet)
    assert result["stats_metadata"]["updated_at"] == [iso(RESET), iso(T1), iso(T2)]
    assert stats.tables(result) == reference.expected_statistics(fleet, T2)
    assert injector.injected == ["backend terminated: record_metadata"]


@pytest.mark.timeout(60)
def test_an_index_build_killed_midway_is_dropped_and_built_again(
    db, hiccup, database_conninfo
):
    device = hiccup.device()
    hiccup.heartbeat(device, dt.date(2026, 2, 27), utc(2026, 2, 27, 20))
    hiccup.crash_report(device, utc(2026, 2, 27, 21), utc(2026, 2, 27, 22))
    injector = Injector(database_conninfo)
    # Hiccup is storing a heartbeat: the index build waits for it to commit.
    receiving = HiccupFactory(psycopg.connect(database_conninfo))
    receiving.heartbeat(device, dt.date(2026, 2, 28), utc(2026, 2, 28, 1))
    build = Calling(database_conninfo, schema.ensure_indexes)
    build.start()
    try:
        injector.wait_blocked(build.pid, receiving.connection.info.backend_pid)
        injector.terminate(build.pid, "prepare_database index build")
        build.join(WAIT_SECONDS)
        receiving.connection.commit()
    finally:
        receiving.connection.close()
        injector.close()
    heartbeats_index = schema.created_at_index("crashreports_heartbeat")
    left = db.execute(
        "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)",
        (heartbeats_index,),
    ).fetchall()

    rebuilt = schema.ensure_indexes(db)
    stats.update(db, T3)

    assert isinstance(build.error, psycopg.OperationalError)
    assert left == [(False,)]
    assert rebuilt == [name for name, _, _ in schema.wanted_indexes()]
    assert rebuilt[0] == heartbeats_index
    assert db.execute(
        "SELECT count(*) FILTER (WHERE indisvalid), count(*) FROM pg_index"
        " WHERE indexrelid = ANY(ARRAY(SELECT to_regclass(name) FROM unnest(%s::text[])"
        " AS name))",
        (rebuilt,),
    ).fetchone() == (4, 4)
    result = stats.read_statistics(db)
    assert stats.tables(result) == reference.expected_statistics(db, T3)
    assert result["version"][FINGERPRINT]["heartbeats"] == 2
    assert injector.injected == ["backend terminated: prepare_database index build"]


# 2. PostgreSQL restarted during a fold.


@pytest.fixture
def own_server():
    """An embedded PostgreSQL of this test only, whatever server the suite uses."""
    server = OwnServer()
    yield server
    server.stop()


@pytest.mark.timeout(90)
def test_a_postgresql_restart_during_a_fold_leaves_no_trace_and_the_retry_counts_once(
    own_server,
):
    with psycopg.connect(own_server.uri, autocommit=True) as admin:
        admin.execute("CREATE DATABASE hiccup_faults")
    conninfo = make_conninfo(own_server.uri, dbname="hiccup_faults")
    with psycopg.connect(conninfo) as connection:
        schema.create_hiccup_schema(connection)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        hiccup = HiccupFactory(connection)
        hiccup.allow_duplicates()
        insert_random_fleet(
            hiccup, seed=7, start=utc(2026, 2, 26), end=utc(2026, 3, 1, 5)
        )
        stats.reset(connection, RESET)
        stats.update(connection, T1)
        count_all_but(connection, T2, skipped=("version", "other"))
        before = state(connection)
        counted = reference.expected_statistics(connection, T1)
        expected = reference.expected_statistics(connection, T2)
    key = min(
        key
        for key, version in expected["version"].items()
        if key in counted["version"]
        and version["other"] > counted["version"][key]["other"]
    )
    postmaster = own_server.postmaster_pid()
    injector = Injector(conninfo)

    row_lock = RowLock(
        conninfo,
        "SELECT id FROM crashreport_stats_version"
        " WHERE build_fingerprint = %s FOR UPDATE",
        (key,),
    )
    fold = Transactions(
        conninfo,
        [stats.counter_task("version", "other")],
        params(T2),
    )
    fold.start()
    try:
        injector.wait_blocked(fold.pid, row_lock.pid)
        wrote = injector.has_written(fold.pid)
        own_server.restart(injector)
        fold.join(WAIT_SECONDS)
    finally:
        row_lock.release()
        injector.close()

    assert wrote is True
    assert isinstance(fold.error, psycopg.OperationalError)
    assert own_server.postmaster_pid() != postmaster
    with psycopg.connect(conninfo, autocommit=True) as connection:
        assert state(connection) == before

        (retry,) = stats.count_one(connection, T2, "version", "other")
        stats.update(connection, T2)

        assert retry[2:5] == (
            fold_time(T1),
            fold_time(T2),
            total(expected, "version", "other") - total(counted, "version", "other"),
        )
        result = stats.read_statistics(connection)
        assert stats.tables(result) == expected
        assert result["stats_metadata"]["updated_at"] == [
            iso(RESET),
            iso(T1),
            iso(T2),
        ]
    assert injector.injected == ["server restarted: pg_ctl restart -m fast"]


# 3. Through Airflow: a counter task killed, retried, or failing its run.


def smpl_fleet(hiccup: HiccupFactory, day: dt.date) -> None:
    """A random fleet up to ``day`` 11:00, and SMPL events of their own radio.

    Only the radio version / smpl counter writes the radio version
    ``SMPL_RADIO`` in the window ending at noon: a lock on its row stops that
    one task and no other.
    """
    midnight = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    hiccup.allow_duplicates()
    insert_random_fleet(
        hiccup,
        seed=day.day,
        start=midnight - dt.timedelta(days=2),
        end=midnight + dt.timedelta(hours=11),
    )
    device = hiccup.device()
    yesterday = day - dt.timedelta(days=1)
    hiccup.heartbeat(
        device, yesterday, midnight + dt.timedelta(hours=1), FINGERPRINT, SMPL_RADIO
    )
    for hour in (7, 9):
        hiccup.crash_report(
            device,
            midnight + dt.timedelta(hours=hour - 1),
            midnight + dt.timedelta(hours=hour),
            boot_reason="RTC alarm",
            radio_version=SMPL_RADIO,
        )


def lock_smpl_radio(injector: Injector, conninfo: str) -> KillFirstBlocked:
    return KillFirstBlocked(
        injector,
        conninfo,
        "SELECT id FROM crashreport_stats_radioversion"
        " WHERE radio_version = %s FOR UPDATE",
        (SMPL_RADIO,),
        "radio_version_stats.smpl task, first try",
    )


def task_states(run) -> dict[str, tuple[str, int]]:
    return {ti.task_id: (ti.state, ti.try_number) for ti in run.get_task_instances()}


@pytest.mark.timeout(120)
def test_a_counter_task_killed_on_its_first_try_is_retried_and_counts_once(
    db, hiccup, injector, database_conninfo, dagbag, monkeypatch
):
    day = dt.date(2026, 1, 14)
    morning, noon = utc(2026, 1, 14, 6), utc(2026, 1, 14, 12)
    smpl_fleet(hiccup, day)
    stats.update(db, morning)
    dag = dagbag.get_dag("hiccup_stats_update")
    # The DAG's two minutes between tries would only slow the test down.
    monkeypatch.setattr(
        dag.get_task("radio_version_stats.smpl"), "retry_delay", dt.timedelta(0)
    )

    killer = lock_smpl_radio(injector, database_conninfo)
    killer.start()
    run = dag.test(logical_date=noon)
    killer.join(WAIT_SECONDS)

    assert killer.wrote_before_kill is True
    assert len(killer.killed) == 1
    assert run.state == "success"
    states = task_states(run)
    assert states.pop("radio_version_stats.smpl") == ("success", 2)
    assert set(states.values()) == {("success", 1)}
    result = stats.read_statistics(db)
    assert stats.tables(result) == reference.expected_statistics(db, noon)
    assert result["radio_version"][SMPL_RADIO]["smpl"] == 2
    assert result["stats_metadata"]["updated_at"] == [iso(morning), iso(noon)]
    assert injector.injected == [
        "backend terminated: radio_version_stats.smpl task, first try"
    ]


@pytest.mark.timeout(120)
def test_a_partial_run_records_no_metadata_and_its_cleared_run_completes(
    db, hiccup, injector, database_conninfo, dagbag, monkeypatch
):
    day = dt.date(2026, 1, 15)
    morning, noon = utc(2026, 1, 15, 6), utc(2026, 1, 15, 12)
    smpl_fleet(hiccup, day)
    stats.update(db, morning)
    counted = stats.read_statistics(db)
    dag = dagbag.get_dag("hiccup_stats_update")
    monkeypatch.setattr(dag.get_task("radio_version_stats.smpl"), "retries", 0)

    killer = lock_smpl_radio(injector, database_conninfo)
    killer.start()
    failed = dag.test(logical_date=noon)
    killer.join(WAIT_SECONDS)

    assert len(killer.killed) == 1
    assert failed.state == "failed"
    states = {task: state for task, (state, _) in task_states(failed).items()}
    assert states.pop("radio_version_stats.smpl") == "failed"
    assert states.pop("record_metadata") == "upstream_failed"
    assert {
        states.pop(f"checks.{name}")
        for name in ("version_stats", "radio_version_stats", "metadata")
    } == {"upstream_failed"}
    assert set(states.values()) == {"success"}
    partial = stats.read_statistics(db)
    assert partial["stats_metadata"]["updated_at"] == [iso(morning)]
    assert partial["radio_version"][SMPL_RADIO] == counted["radio_version"][SMPL_RADIO]
    assert marks(db) == {
        (engine.name, counter.name): morning
        if (engine.name, counter.name) == ("radio_version", "smpl")
        else noon
        for engine in ENGINES
        for counter in COUNTERS
    }

    cleared = dag.test(logical_date=noon)

    assert cleared.state == "success"
    result = stats.read_statistics(db)
    assert stats.tables(result) == reference.expected_statistics(db, noon)
    assert result["radio_version"][SMPL_RADIO]["smpl"] == 2
    assert result["stats_metadata"]["updated_at"] == [iso(morning), iso(noon)]
    # The same numbers as a run that nothing disturbed.
    forget_statistics(db)
    stats.update(db, morning)
    stats.update(db, noon)
    assert stats.read_statistics(db) == result
    assert injector.injected == [
        "backend terminated: radio_version_stats.smpl task, first try"
    ]


# 4. Races between a reset and an update's counter tasks.


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "cut_off", [T1, T3], ids=["cut-off before the fold's end", "cut-off after it"]
)
def test_a_reset_waits_for_a_counter_task_inside_its_transaction(
    fleet, injector, database_conninfo, cut_off
):
    stats.reset(fleet, RESET)
    stats.update(fleet, T1)
    fold = Transactions(
        database_conninfo,
        [stats.counter_task("version", "heartbeats")],
        params(T2),
        hold=True,
    )
    fold.start()
    assert fold.executed.wait(WAIT_SECONDS)
    rebuild = Transactions(database_conninfo, [statements.rebuild()], params(cut_off))
    try:
        rebuild.start()
        injector.wait_blocked(rebuild.pid, fold.pid)
        waited = injector.waits_for_advisory_lock(rebuild.pid)
        time.sleep(0.2)
        rebuilt_meanwhile = rebuild.executed.is_set()
    finally:
        fold.finish()
    rebuild.join(WAIT_SECONDS)

    assert fold.error is None
    assert rebuild.error is None
    assert waited is True
    assert rebuilt_meanwhile is False
    assert fold.finished_at < rebuild.finished_at
    counted, expected = (
        reference.expected_statistics(fleet, T1),
        reference.expected_statistics(fleet, T2),
    )
    assert fold.rows[0][0][2:5] == (
        fold_time(T1),
        fold_time(T2),
        total(expected, "version", "heartbeats")
        - total(counted, "version", "heartbeats"),
    )
    result = stats.read_statistics(fleet)
    assert stats.tables(result) == reference.expected_statistics(fleet, cut_off)
    assert result["stats_metadata"]["updated_at"] == [iso(cut_off)]
    assert set(marks(fleet).values()) == {cut_off}

    stats.update(fleet, T4)
    stats.update(fleet, T5)

    result = stats.read_statistics(fleet)
    assert stats.tables(result) == reference.expected_statistics(fleet, T5)
    assert result["stats_metadata"]["updated_at"] == [iso(cut_off), iso(T4), iso(T5)]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "window_end", [T3, T4], ids=["window ending at the cut-off", "later window"]
)
def test_an_update_started_during_a_reset_waits_and_counts_nothing_twice(
    fleet, injector, database_conninfo, window_end
):
    stats.reset(fleet, RESET)
    stats.update(fleet, T1)
    before = state(fleet)
    rebuild = Transactions(
        database_conninfo, [statements.rebuild()], params(T3), hold=True
    )
    rebuild.start()
    assert rebuild.executed.wait(WAIT_SECONDS)
    update = Transactions(
        database_conninfo,
        [
            statements.update_counter(engine, counter)
            for engine in ENGINES
            for counter in COUNTERS
        ]
        + [statements.update_metadata()],
        params(window_end),
    )
    try:
        update.start()
        injector.wait_blocked(update.pid, rebuild.pid)
        waited = injector.waits_for_advisory_lock(update.pid)
        seen_meanwhile = state(fleet)
    finally:
        rebuild.finish()
    update.join(WAIT_SECONDS)

    assert rebuild.error is None
    assert update.error is None
    assert waited is True
    assert seen_meanwhile == before
    assert rebuild.finished_at < update.finished_at
    at_cut_off = reference.expected_statistics(fleet, T3)
    expected = reference.expected_statistics(fleet, window_end)
    assert sum(row[4] for (row,) in update.rows[:-1]) == grand_total(
        expected
    ) - grand_total(at_cut_off)
    result = stats.read_statistics(fleet)
    assert stats.tables(result) == expected
    assert result["stats_metadata"]["updated_at"] == sorted({iso(T3), iso(window_end)})
    assert set(marks(fleet).values()) == {window_end}


# 5. Scheduler down or DAG paused for a while.


@pytest.mark.timeout(120)
def test_intervals_missed_while_the_scheduler_was_down_are_counted_by_the_next_run(
    db, hiccup, dagbag
):
    hiccup.allow_duplicates()
    insert_random_fleet(hiccup, seed=5, start=utc(2026, 1, 19), end=utc(2026, 1, 21))
    morning, noon, evening = (utc(2026, 1, 20, hour) for hour in (6, 12, 18))
    dag = dagbag.get_dag("hiccup_stats_update")

    assert dag.test(logical_date=morning).state == "success"
    assert stats.tables(stats.read_statistics(db)) == reference.expected_statistics(
        db, morning
    )
    # The scheduler is down at noon; it runs again in the evening.
    assert dag.test(logical_date=evening).state == "success"
    counted = stats.read_statistics(db)
    rerun = dag.test(logical_date=noon)

    assert rerun.state == "success"
    assert stats.read_statistics(db) == counted
    assert stats.tables(counted) == reference.expected_statistics(db, evening)
    assert counted["stats_metadata"]["updated_at"] == [iso(morning), iso(evening)]
    # The missed interval did hold reports, received after one run and before
    # the next; later reports wait for later runs.
    assert grand_total(reference.expected_statistics(db, noon)) > grand_total(
        reference.expected_statistics(db, morning)
    )
    assert grand_total(reference.expected_statistics(db, utc(2026, 1, 21))) > (
        grand_total(stats.tables(counted))
    )


# 6. A backfill beside the schedule, in two Airflow processes.


def airflow_process_env(home, source_database: str) -> dict[str, str]:
    """Return the environment of an Airflow process with a metadata copy of its own.

    Two processes writing one SQLite file would fight over its lock; the other
    process gets a consistent copy of the suite's metadata database instead.
    """
    home.mkdir()
    with (
        sqlite3.connect(source_database) as source,
        sqlite3.connect(home / "airflow.db") as copy,
    ):
        source.backup(copy)
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
    }


@pytest.mark.timeout(240)
def test_a_backfill_beside_the_schedule_counts_like_the_schedule_alone(
    db, hiccup, injector, database_conninfo, dagbag, tmp_path
):
    from airflow.configuration import conf

    hiccup.allow_duplicates()
    insert_random_fleet(
        hiccup, seed=9, start=utc(2026, 1, 20, 12), end=utc(2026, 1, 22, 18)
    )
    reset_at, midnight, noon = (
        utc(2026, 1, 21, 18),
        utc(2026, 1, 22),
        utc(2026, 1, 22, 12),
    )
    stats.reset(db, reset_at)
    # Hold the statistics' lock until both runs wait for it: then their tasks
    # run side by side from their first write on.
    gate = Transactions(database_conninfo, [statements.lock()], params(noon), hold=True)
    gate.start()
    assert gate.executed.wait(WAIT_SECONDS)
    opener = ReleaseWhenWaiting(injector, gate, waiters=2)
    # The backfill: `airflow dags test` in a process of its own.
    backfill = faults.run_bounded(
        [
            sys.executable,
            *("-m", "airflow", "dags", "test", "hiccup_stats_update"),
            midnight.isoformat(),
        ],
        airflow_process_env(
            tmp_path / "backfill",
            conf.get("database", "sql_alchemy_conn").removeprefix("sqlite:///"),
        ),
    )
    try:
        faults.wait_for(
            lambda: injector.blocked_by(gate.pid) or backfill.poll() is not None,
            "the backfill to wait for the statistics' lock",
            timeout=90,
        )
        opener.start()
        # The schedule: this process runs the latest interval meanwhile.
        scheduled = dagbag.get_dag("hiccup_stats_update").test(logical_date=noon)
        opener.join(WAIT_SECONDS)
    finally:
        gate.finish()
        returncode, output = faults.wait_bounded(backfill, timeout=90)

    assert returncode == 0, f"the backfill failed:\n{output[-3000:]}"
    assert scheduled.state == "success"
    assert opener.waited == 2
    counted = stats.read_statistics(db)
    assert stats.tables(counted) == reference.expected_statistics(db, noon)
    recorded = counted["stats_metadata"]["updated_at"]
    assert recorded[0] == iso(reset_at)
    assert recorded[-1] == iso(noon)
    assert recorded == sorted(set(recorded))
    assert set(recorded) <= {iso(reset_at), iso(midnight), iso(noon)}
    assert set(marks(db).values()) == {noon}

    forget_statistics(db)
    stats.reset(db, reset_at)
    for window_end in (midnight, utc(2026, 1, 22, 6), noon):
        stats.update(db, window_end)

    assert stats.tables(stats.read_statistics(db)) == stats.tables(counted)
