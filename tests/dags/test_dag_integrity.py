"""Both DAGs import cleanly and have the shape their runbooks describe."""

from __future__ import annotations

import datetime as dt

from tests.factory import utc

COUNTERS = ["heartbeats", "prob_crashes", "smpl", "other"]
GROUPS = ["version_stats", "radio_version_stats"]


def test_dags_import_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert sorted(dagbag.dag_ids) == ["hiccup_stats_reset", "hiccup_stats_update"]


def core_timetable(dag):
    from airflow.serialization.encoders import coerce_to_core_timetable

    return coerce_to_core_timetable(dag.timetable)


def test_update_intervals_are_six_hours_on_utc_boundaries(dagbag):
    from airflow.timetables.base import DataInterval, TimeRestriction

    timetable = core_timetable(dagbag.get_dag("hiccup_stats_update"))

    manual = timetable.infer_manual_data_interval(run_after=utc(2026, 2, 28, 7, 30))
    following = timetable.next_dagrun_info(
        last_automated_data_interval=DataInterval(
            utc(2026, 2, 28, 18), utc(2026, 3, 1)
        ),
        restriction=TimeRestriction(
            earliest=utc(2010, 1, 1), latest=None, catchup=True
        ),
    )

    assert (manual.start, manual.end) == (utc(2026, 2, 28, 0), utc(2026, 2, 28, 6))
    assert following.data_interval == DataInterval(utc(2026, 3, 1), utc(2026, 3, 1, 6))
    assert following.data_interval.end - following.data_interval.start == dt.timedelta(
        hours=6
    )
    assert timetable.summary == "0 0,6,12,18 * * *"


def test_update_dag_settings(dagbag):
    dag = dagbag.get_dag("hiccup_stats_update")

    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert dag.start_date == utc(2010, 1, 1)
    assert dag.doc_md.strip().startswith("### Hiccup statistics: update")
    assert "hiccup" in dag.tags


def test_update_dag_has_one_task_per_engine_and_counter(dagbag):
    dag = dagbag.get_dag("hiccup_stats_update")

    counter_tasks = [f"{group}.{counter}" for group in GROUPS for counter in COUNTERS]
    checks = ["checks.version_stats", "checks.radio_version_stats", "checks.metadata"]
    assert sorted(dag.task_ids) == sorted(
        ["prepare_database", "record_metadata", *counter_tasks, *checks]
    )
    assert sorted(dag.task_group_dict) == sorted([*GROUPS, "checks"])
    for task_id in counter_tasks:
        task = dag.get_task(task_id)
        assert task.upstream_task_ids == {"prepare_database"}
        assert task.downstream_task_ids == {"record_metadata"}
        assert task.conn_id == "hiccup_db"
    assert dag.get_task("record_metadata").upstream_task_ids == set(counter_tasks)
    assert dag.get_task("record_metadata").downstream_task_ids == set(checks)


def test_writers_share_a_pool_of_one_slot(dagbag):
    writers = {
        "hiccup_stats_update": ["prepare_database", "record_metadata"]
        + [f"{group}.{counter}" for group in GROUPS for counter in COUNTERS],
        "hiccup_stats_reset": ["prepare_database", "rebuild"],
    }
    for dag_id, task_ids in writers.items():
        dag = dagbag.get_dag(dag_id)
        assert {dag.get_task(task_id).pool for task_id in task_ids} == {"hiccup_stats"}
        assert dag.get_task("checks.metadata").pool == "default_pool"


def test_writers_retry_and_checks_do_not(dagbag):
    dag = dagbag.get_dag("hiccup_stats_update")

    retries = {task.task_id: task.retries for task in dag.tasks}
    assert {retries[t] for t in retries if not t.startswith("checks.")} == {3}
    assert {retries[t] for t in retries if t.startswith("checks.")} == {0}


def test_reset_dag_is_manual_with_an_up_to_param(dagbag):
    dag = dagbag.get_dag("hiccup_stats_reset")

    assert core_timetable(dag).summary == "None"
    assert dag.max_active_runs == 1
    assert dag.params["up_to"] is None
    assert dag.task_dict["rebuild"].upstream_task_ids == {
        "resolve_cut_off",
        "prepare_database",
    }
    assert dag.task_dict["prepare_database"].upstream_task_ids == {"resolve_cut_off"}
    assert dag.task_dict["checks.metadata"].upstream_task_ids == {
        "rebuild",
        "resolve_cut_off",
    }
    assert dag.doc_md.strip().startswith("### Hiccup statistics: reset")
