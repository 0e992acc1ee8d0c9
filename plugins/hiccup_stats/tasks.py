"""Python tasks shared by the DAGs: checks that run before any write."""

from __future__ import annotations

import datetime as dt
import logging
from contextlib import closing

from airflow.providers.postgres.hooks.postgres import PostgresHook
from airflow.sdk import get_current_context, task
from airflow.sdk.exceptions import AirflowFailException, AirflowNotFoundException

from hiccup_stats import schema
from hiccup_stats.config import CONNECTION_ID, POOL
from hiccup_stats.cut_off import parse_up_to
from hiccup_stats.operators import failing_without_retry, load_settings

log = logging.getLogger(__name__)


@task(pool=POOL)
def prepare_database(adds_to_statistics: bool = True) -> None:
    """Check the settings and the Hiccup schema; add indexes and progress table.

    Args:
        adds_to_statistics: Whether the run adds to the statistics there (an
            update) rather than rebuilding them (a reset), which needs one row
            per version and day.

    Raises:
        SettingsError: The settings Variable is unusable.
        SchemaError: A table or column the statistics need is missing.
        DuplicateDaysError: An update would add to a day held in two rows.
    """
    with failing_without_retry():
        settings = load_settings()
    log.info(
        "Settings: days in %s, boot reasons %s",
        settings.time_zone,
        settings.boot_reasons,
    )

    hook = PostgresHook(postgres_conn_id=CONNECTION_ID)
    try:
        connection = hook.get_conn()
    except AirflowNotFoundException as error:
        raise AirflowFailException(
            f"The Airflow connection {CONNECTION_ID!r} to the Hiccup database is not "
            "defined: set AIRFLOW_CONN_HICCUP_DB=postgresql://ROLE:PASSWORD@HOST:5432/"
            "DATABASE, or add it under Admin > Connections."
        ) from error
    with closing(connection):
        with failing_without_retry():
            schema.check_schema(connection)
            schema.check_time_zone(connection, settings.time_zone)
            if adds_to_statistics:
                schema.check_one_row_per_day(connection)
        connection.commit()

        connection.autocommit = True
        built = schema.ensure_indexes(connection)
        connection.autocommit = False
        if built:
            log.info("Built indexes %s", built)

        schema.ensure_progress(connection)


@task
def resolve_cut_off() -> str:
    """Check the ``up_to`` parameter and return the reset cut-off.

    Returns:
        The cut-off, ISO 8601 in UTC.

    Raises:
        CutOffError: ``up_to`` is malformed, naive, in the future or before any
            report; nothing has been written.
    """
    up_to = get_current_context()["params"].get("up_to")
    with failing_without_retry():
        cut_off = parse_up_to(up_to, now=dt.datetime.now(dt.UTC))
    log.info("Resetting the statistics to the reports received up to %s", cut_off)
    return cut_off.isoformat()
