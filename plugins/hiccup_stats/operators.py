"""The operator that runs statistics statements in one transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import Variable

from hiccup_stats import statements
from hiccup_stats.config import (
    CONNECTION_ID,
    SETTINGS_VARIABLE,
    Settings,
    parse_settings,
)


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
            **kwargs,
        )

    def execute(self, context: Any) -> Any:
        """Bind the settings and the window end, then run the statements."""
        window_end = self.parameters["window_end"]
        if not window_end:
            raise ValueError("No window end to count up to was given.")
        end = dt.datetime.fromisoformat(str(window_end))
        if end.tzinfo is None:
            raise ValueError(f"Window end {window_end!r} has no UTC offset.")
        if end > dt.datetime.now(dt.UTC):
            raise ValueError(
                f"Window end {end.isoformat()} lies in the future: reports received "
                "later would never be counted. Run only past intervals."
            )

        self.parameters = statements.parameters(load_settings(), end)
        return super().execute(context)

    def _process_output(
        self, results: list[Any], descriptions: list[Sequence[Sequence] | None]
    ) -> list[dict[str, Any]]:
        """Log what each statement counted and return it for XCom."""
        summaries = []
        for rows, description in zip(results, descriptions, strict=False):
            if not rows or not description:
                continue
            names = [column[0] for column in description]
            for row in rows:
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


def _json_ready(summary: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value.isoformat() if isinstance(value, dt.datetime) else value
        for key, value in summary.items()
    }
