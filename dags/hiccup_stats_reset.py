"""### Hiccup statistics: reset.

Manual only. Deletes every statistic and the stats metadata, then counts again
every report received up to the cut-off `up_to`, and records `up_to` as the
time the statistics are counted up to. Use it for the first deployment, to
repair wrong counters, or after changing the settings.

**Parameter**

- `up_to`: an ISO 8601 timestamp with a UTC offset, e.g.
  `2026-03-01T00:00:00+00:00`. Leave it empty for the latest 00/06/12/18 UTC
  boundary, which is what you want before unpausing `hiccup_stats_update`.
  A malformed, naive, future or pre-history value fails `resolve_cut_off`
  before anything is written.

**Tasks**

1. `resolve_cut_off` checks `up_to`.
2. `prepare_database` checks the settings and the schema (see the update DAG).
3. `rebuild` deletes and recounts in one transaction: readers keep seeing the
   old statistics until the new ones commit, never empty or half-built tables.
   Update runs wait for it (advisory lock); afterwards, update intervals ending
   at or before the cut-off change nothing and the next one counts exactly from
   it.
4. `checks`: the data-quality checks of the update DAG, on the rebuilt tables.

Hand-set fields of the version tables (`is_official_release`,
`is_beta_release`, a moved `released_on`) are deleted with the rows, as the
Django `stats reset` command did.
"""

from __future__ import annotations

from airflow.sdk import DAG, Param
from hiccup_stats import statements
from hiccup_stats.cut_off import EARLIEST_REPORT
from hiccup_stats.operators import StatisticsOperator, statistics_checks
from hiccup_stats.tasks import prepare_database, resolve_cut_off

with DAG(
    dag_id="hiccup_stats_reset",
    schedule=None,
    start_date=EARLIEST_REPORT,
    catchup=False,
    max_active_runs=1,
    # Manual only: nothing runs until triggered, so it need not be unpaused.
    is_paused_upon_creation=False,
    doc_md=__doc__,
    tags=["hiccup", "statistics"],
    params={
        "up_to": Param(
            None,
            type=["null", "string"],
            title="Count reports received up to",
            description=(
                "ISO 8601 timestamp with a UTC offset, e.g. 2026-03-01T00:00:00+00:00."
                " Empty: the latest 00/06/12/18 UTC boundary."
            ),
        )
    },
) as dag:
    cut_off = resolve_cut_off()
    rebuild = StatisticsOperator(
        task_id="rebuild",
        sql=statements.rebuild(),
        window_end=cut_off,
    )
    # A reset rebuilds the statistics: duplicated days are no obstacle.
    prepared = prepare_database(adds_to_statistics=False)
    cut_off >> prepared >> rebuild >> statistics_checks(cut_off)
