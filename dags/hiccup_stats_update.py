"""### Hiccup statistics: update.

Every six hours (00, 06, 12 and 18 UTC) this DAG counts the Hiccup reports
received in the run's data interval and adds them to the statistics that
release managers read: per build fingerprint (`crashreport_stats_version`,
`..._versiondaily`) and per radio version (`crashreport_stats_radioversion`,
`..._radioversiondaily`), all-time and per day.

**Tasks**

1. `prepare_database` checks the settings and the Hiccup schema (a missing
   table or column fails here, named) and creates, once, the `created_at`
   indexes and the `hiccup_stats_progress` and `hiccup_stats_counted` tables.
   It also checks that the statistics hold one row per version and day, as
   statistics made elsewhere may not (if not: trigger `hiccup_stats_reset`).
2. `version_stats` and `radio_version_stats`: one task per counter
   (`heartbeats`, `prob_crashes`, `smpl`, `other`). Each counts, in one
   transaction, the reports received after its progress mark and up to the
   interval end, per version and day, and folds them into the stats tables.
3. `record_metadata` records the interval end in
   `crashreport_stats_statsmetadata` once every counter has reached it.
4. `checks`: all-time counters equal the sums of the daily rows, no counter
   is negative, no (version, day) has two rows, the metadata never moves
   back. A failed check fails the run; its log shows the offending rows.

**Operating it**

- Retrying a task, clearing a run or running an interval twice never counts a
  report twice: a counter whose mark already reaches the interval end does
  nothing.
- A missed interval (scheduler down, DAG paused) is never skipped: the next
  run counts from where the marks stand.
- First deployment: trigger `hiccup_stats_reset` once, then unpause this DAG.
- Writers run in the pool `hiccup_stats` of one slot. Create it once
  (`airflow pools set hiccup_stats 1 "Hiccup statistics writers"`; the
  docker compose set-up does): without it the scheduler never starts them and
  the run stays queued.
- To count an interval by hand, trigger with its end as logical date:
  `airflow dags trigger hiccup_stats_update --logical-date 2026-03-01T06:00:00+00:00`
  counts the interval ending at or before it; a run without a logical date
  has no interval and is refused.
- Settings (time zone of crash report days, boot reasons of each counter) are
  the Airflow Variable `hiccup_stats_settings`; see the README.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, CronDataIntervalTimetable, TaskGroup
from hiccup_stats import statements
from hiccup_stats.config import COUNTERS, ENGINES
from hiccup_stats.cut_off import EARLIEST_REPORT
from hiccup_stats.operators import StatisticsOperator, statistics_checks
from hiccup_stats.tasks import prepare_database

# Empty for a run triggered without a logical date: the tasks then refuse it,
# saying how to trigger one, instead of failing on an undefined template value.
WINDOW_END = "{{ data_interval_end | default('') }}"

with DAG(
    dag_id="hiccup_stats_update",
    schedule=CronDataIntervalTimetable("0 0,6,12,18 * * *", timezone="UTC"),
    start_date=EARLIEST_REPORT,
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["hiccup", "statistics"],
    default_args={"retries": 3, "retry_delay": timedelta(minutes=2)},
) as dag:
    prepared = prepare_database()

    engine_groups = []
    for engine in ENGINES:
        with TaskGroup(group_id=f"{engine.name}_stats") as engine_group:
            for counter in COUNTERS:
                StatisticsOperator(
                    task_id=counter.name,
                    sql=statements.update_counter(engine, counter),
                    window_end=WINDOW_END,
                )
        prepared >> engine_group
        engine_groups.append(engine_group)

    recorded = StatisticsOperator(
        task_id="record_metadata",
        sql=statements.update_metadata(),
        window_end=WINDOW_END,
    )
    engine_groups >> recorded >> statistics_checks(WINDOW_END)
