"""The operator that runs statistics statements in one transaction."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

from airflow.providers.common.sql.operators.sql import (
    SQLCheckOperator,
    SQLExecuteQueryOperator,
)
from airflow.sdk import TaskGroup, Variable
from airflow.sdk.exceptions import AirflowFailException

from hiccup_stats import statements
from hiccup_stats.config import (
    CONNECTION_ID,
    ENGINES,
    POOL,
    SETTINGS_VARIABLE,
    Settings,
    SettingsError,
    parse_settings,
)
from hiccup_stats.cut_off import CutOffError
from hiccup_stats.schema import DuplicateDaysError, SchemaError


class WindowError(ValueError):
    """The window end to count up to is unusable."""


@contextlib.contextmanager
def failing_without_retry() -> Iterator[None]:
    """Fail the task at once on errors that no retry can mend.

    Bad settings, a bad cut-off or a missing table stay wrong until an operator
    acts: retrying would only delay the failure that tells them.
    """
    try:
        yield
    except (
        SettingsError,
        CutOffError,
        SchemaError,
        DuplicateDaysError,
        WindowError,
    ) as error:
        raise AirflowFailException(str(error)) from error


def load_settings() -> Settings:
    """Read and validate the settings from the Airflow Variable, if set.

    Returns:
        The validated settings.

    Raises:
        SettingsError: The Variable holds an unusable value.
    """
    return parse_settings(Variable.get(SETTINGS_VARIABLE, default=None))


class StatisticsOperator(SQLExecuteQueryOperator):
    """Run statistics statements in one transaction on ``hiccup_db``.

    The statements come from ``hiccup_stats.statements``; the window end is
    templated, the settings are read and validated when the task runs, before
    any statement is sent. Fold summaries are logged in words.

    Args:
        sql: The statements, run in order in one transaction.
        window_end: The end of the window counted (templated).
        **kwargs: Passed to ``SQLExecuteQueryOperator``.
    """

    ui_color = "#d9ecf2"

    def __init__(self, *, sql: Sequence[str], window_end: Any, **kwargs: Any) -> None:
        super().__init__(
            conn_id=CONNECTION_ID,
            sql=list(sql),
            parameters={"window_end": window_end},
            autocommit=False,
            return_last=False,
            pool=POOL,
            **kwargs,
        )

    def execute(self, context: Any) -> Any:
        """Bind the settings and the window end, then run the statements."""
        with failing_without_retry():
            end = _window_end(self.parameters["window_end"])
            self.parameters = statements.parameters(load_settings(), end)
        return super().execute(context)

    def _process_output(
        self, results: list[Any], descriptions: list[Sequence[Sequence] | None]
    ) -> list[dict[str, Any]]:
        """Log what each statement counted and return it for XCom."""
        summaries = []
        for rows, description in zip(results, descriptions, strict=False):
            if not description:
                continue
            names = [column[0] for column in description]
            if names == ["updated_at"] and not rows:
                self.log.info(
                    "Stats metadata not recorded: a later time is recorded "
                    "already, or a counter has not reached this one"
                )
            for row in rows or []:
                summary = dict(zip(names, row, strict=False))
                if "counter" in summary or "updated_at" in summary:
                    summaries.append(_json_ready(summary))
                    self._log_summary(summary)
        return summaries

    def _log_summary(self, summary: dict[str, Any]) -> None:
        if "counter" in summary:
            if summary["counted_from"] is None:
                self.log.info(
                    "%s / %s: already counted up to %s, nothing to do",
                    summary["engine"],
                    summary["counter"],
                    summary["counted_until"],
                )
                return
            self.log.info(
                "%s / %s: %s reports received in (%s, %s]; versions created %s, "
                "updated %s; days created %s, updated %s",
                summary["engine"],
                summary["counter"],
                summary["reports"],
                summary["counted_from"],
                summary["counted_until"],
                summary["versions_created"],
                summary["versions_updated"],
                summary["days_created"],
                summary["days_updated"],
            )
        elif "updated_at" in summary:
            self.log.info(
                "Recorded stats metadata updated_at=%s", summary["updated_at"]
            )


class StatisticsCheckOperator(SQLCheckOperator):
    """Fail when a data-quality query of the statistics returns a false verdict.

    The query returns one row of verdicts followed by the offending rows as
    text; a failure's message and the task log show the whole row.

    Args:
        sql: The check query.
        window_end: The end of the window just counted (templated).
        **kwargs: Passed to ``SQLCheckOperator``.
    """

    template_fields: Sequence[str] = (*SQLCheckOperator.template_fields, "parameters")
    ui_color = "#e8f2d9"

    def __init__(self, *, sql: str, window_end: Any, **kwargs: Any) -> None:
        super().__init__(
            conn_id=CONNECTION_ID,
            sql=sql,
            parameters={"window_end": window_end},
            # A wrong number stays wrong: retrying cannot mend it.
            retries=0,
            **kwargs,
        )


def statistics_checks(window_end: Any) -> TaskGroup:
    """Add the data-quality checks of the statistics, as a task group.

    Args:
        window_end: The end of the window just counted (templated).

    Returns:
        The ``checks`` group: one check per engine and one of the metadata.
    """
    with TaskGroup(group_id="checks") as checks:
        for engine in ENGINES:
            StatisticsCheckOperator(
                task_id=f"{engine.name}_stats",
                sql=statements.check_engine(engine),
                window_end=window_end,
            )
        StatisticsCheckOperator(
            task_id="metadata",
            sql=statements.check_metadata(),
            window_end=window_end,
        )
    return checks


def _window_end(value: Any) -> dt.datetime:
    if not value:
        raise WindowError(
            "This run has no data interval to count: trigger hiccup_stats_update "
            "with a logical date, e.g. `airflow dags trigger hiccup_stats_update "
            "--logical-date 2026-03-01T06:00:00+00:00`, or let the scheduler run it."
        )
    try:
        end = dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise WindowError(f"Window end {value!r} is not a timestamp.") from None
    if end.tzinfo is None:
        raise WindowError(f"Window end {value!r} has no UTC offset.")
    if end > dt.datetime.now(dt.UTC):
        raise WindowError(
            f"Window end {end.isoformat()} lies in the future: reports received "
            "later would never be counted. Run only intervals that have ended."
        )
    return end


def _json_ready(summary: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value.isoformat() if isinstance(value, dt.datetime) else value
        for key, value in summary.items()
    }
