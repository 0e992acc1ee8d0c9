"""The real DAGs, run through ``dag.test`` on a real PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest

from tests import golden, reference, stats
from tests.factory import utc
from tests.random_fleet import insert_random_fleet


def run_update(dagbag, window_end):
    run = dagbag.get_dag("hiccup_stats_update").test(logical_date=window_end)
    assert run.state == "success", f"update run for {window_end} is {run.state}"
    return run


def run_reset(dagbag, up_to):
    run = dagbag.get_dag("hiccup_stats_reset").test(run_conf={"up_to": up_to})
    return run


@pytest.fixture
def fleet(db, hiccup):
    hiccup.allow_duplicates()
    insert_random_fleet(hiccup, seed=7, start=utc(2026, 2, 26), end=utc(2026, 3, 1, 5))
    return db


def test_reset_then_updates_equal_a_count_from_scratch(fleet, dagbag):
    assert run_reset(dagbag, "2026-02-27T00:00:00+00:00").state == "success"
    assert stats.tables(stats.read_statistics(fleet)) == reference.expected_statistics(
        fleet, utc(2026, 2, 27)
    )

    for hours in range(6, 54, 6):
        window_end = utc(2026, 2, 27) + dt.timedelta(hours=hours)
        run_update(dagbag, window_end)

        assert stats.tables(
            stats.read_statistics(fleet)
        ) == reference.expected_statistics(fleet, window_end), (
            f"after the update ending {window_end}"
        )

    counted = stats.read_statistics(fleet)
    assert counted["stats_metadata"]["updated_at"][0] == "2026-02-27T00:00:00+00:00"
    assert counted["stats_metadata"]["updated_at"][-1] == "2026-03-01T00:00:00+00:00"
    assert len(counted["stats_metadata"]["updated_at"]) == 9

    run_update(dagbag, utc(2026, 2, 28, 12))
    assert stats.read_statistics(fleet) == counted

    assert run_reset(dagbag, "2026-03-01T00:00:00+00:00").state == "success"
    assert stats.tables(stats.read_statistics(fleet)) == stats.tables(counted)


def test_the_dags_reproduce_the_django_command(empty_db, shared_golden, dagbag):
    golden.load(empty_db, shared_golden)

    steps = [
        (run_reset, "2026-02-28T00:00:00+00:00", "after_reset_W0"),
        (run_update, utc(2026, 2, 28, 6), "after_update_W1"),
        (run_update, utc(2026, 2, 28, 12), "after_update_W2"),
        (run_update, utc(2026, 2, 28, 18), "after_update_W3"),
        (run_update, utc(2026, 3, 1), "after_update_W4"),
        (run_reset, "2026-03-01T00:00:00+00:00", "reset_at_W4"),
    ]
    for run, when, result in steps:
        assert run(dagbag, when).state == "success"

        assert golden.comparable(stats.read_statistics(empty_db)) == golden.comparable(
            golden.expected(shared_golden, result)
        ), f"{result} differs"


@pytest.mark.parametrize(
    "up_to",
    [
        "yesterday",
        "2026-02-28T00:00:00",  # no UTC offset
        "2999-01-01T00:00:00+00:00",  # in the future
        "1999-01-01T00:00:00+00:00",  # before any report
        "2026-02-28T00:00:00+00:00'; DROP TABLE crashreports_heartbeat; --",
    ],
)
def test_reset_refuses_a_bad_cut_off_before_writing(db, hiccup, dagbag, up_to):
    hiccup.heartbeat(hiccup.device(), dt.date(2026, 2, 26), utc(2026, 2, 27))
    stats.reset(db, utc(2026, 2, 28))
    before = stats.read_statistics(db)

    run = run_reset(dagbag, up_to)

    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["resolve_cut_off"] == "failed"
    assert states["rebuild"] != "success"
    assert stats.read_statistics(db) == before


def test_reset_without_up_to_counts_up_to_the_latest_boundary(db, hiccup, dagbag):
    now = dt.datetime.now(dt.UTC)
    boundary = now.replace(
        hour=now.hour - now.hour % 6, minute=0, second=0, microsecond=0
    )
    device = hiccup.device()
    hiccup.heartbeat(device, dt.date(2026, 1, 1), boundary - dt.timedelta(hours=1))
    hiccup.heartbeat(device, dt.date(2026, 1, 2), boundary + dt.timedelta(hours=7))

    run = run_reset(dagbag, None)

    assert run.state == "success"
    counted = stats.read_statistics(db)
    assert [v["heartbeats"] for v in counted["version"].values()] == [1]
    assert counted["stats_metadata"]["updated_at"] == [boundary.isoformat()]


def test_update_of_an_unready_database_fails_naming_the_table(empty_db, dagbag):
    run = dagbag.get_dag("hiccup_stats_update").test(logical_date=utc(2026, 2, 28, 6))

    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["prepare_database"] == "failed"
    assert states["version_stats.heartbeats"] != "success"


def test_damaged_statistics_fail_the_checks_of_the_next_run(db, hiccup, dagbag):
    hiccup.heartbeat(hiccup.device(), dt.date(2026, 2, 26), utc(2026, 2, 27))
    stats.reset(db, utc(2026, 2, 28))
    db.execute("UPDATE crashreport_stats_version SET heartbeats = heartbeats + 1")

    run = dagbag.get_dag("hiccup_stats_update").test(logical_date=utc(2026, 2, 28, 6))

    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["record_metadata"] == "success"
    assert states["checks.version_stats"] == "failed"
    assert states["checks.radio_version_stats"] == "success"
    assert states["checks.metadata"] == "success"


def test_update_without_a_connection_fails_at_once(db, dagbag, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_HICCUP_DB")

    run = dagbag.get_dag("hiccup_stats_update").test(logical_date=utc(2026, 2, 28, 6))

    assert run.state == "failed"
    prepare = next(
        ti for ti in run.get_task_instances() if ti.task_id == "prepare_database"
    )
    assert (prepare.state, prepare.try_number) == ("failed", 1)
    assert db.execute("SELECT to_regclass('hiccup_stats_progress')").fetchone() == (
        None,
    )
