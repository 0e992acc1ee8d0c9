"""What the statistics count: engines, counters and their settings.

The two engines and four counters are data read by one piece of SQL
(``sql/fold_counter.sql``). Adding a counter is one more ``Counter`` line here
and a column in the Django stats tables; nothing else changes.

Every identifier that reaches SQL comes from this module, never from user
input: these dataclasses are the whitelist.
"""

from __future__ import annotations

import json
import zoneinfo
from dataclasses import dataclass
from typing import Any

CONNECTION_ID = "hiccup_db"
"""The Airflow connection to the Hiccup PostgreSQL database."""

POOL = "hiccup_stats"
"""Airflow pool of one slot shared by every task that writes statistics.

It makes Airflow queue the writers instead of letting them wait on the
advisory lock; create it with ``airflow pools set hiccup_stats 1 "..."``.
"""

SETTINGS_VARIABLE = "hiccup_stats_settings"
"""Airflow Variable (JSON) that overrides ``DEFAULT_SETTINGS``."""

ADVISORY_LOCK_KEY = 4_810_227_359
"""PostgreSQL advisory lock held by every transaction that writes statistics.

One key for the whole project: counter tasks, the metadata task and the reset
serialise on it, across DAG runs, Airflow deployments and manual runs alike.
"""

METADATA_TABLE = "crashreport_stats_statsmetadata"
PROGRESS_TABLE = "hiccup_stats_progress"
LEDGER_TABLE = "hiccup_stats_counted"


@dataclass(frozen=True)
class Source:
    """A Hiccup report table.

    Attributes:
        table: The Django table name.
        date_is_timestamp: True when ``date`` is a timestamptz that is bucketed
            into days in the configured time zone; False when it is already
            the device day.
    """

    table: str
    date_is_timestamp: bool


HEARTBEATS = Source(table="crashreports_heartbeat", date_is_timestamp=False)
CRASH_REPORTS = Source(table="crashreports_crashreport", date_is_timestamp=True)
SOURCES = (HEARTBEATS, CRASH_REPORTS)


@dataclass(frozen=True)
class Counter:
    """A counter column of the stats tables and the reports it counts.

    Attributes:
        name: The column in the all-time and daily stats tables.
        source: The report table counted.
        boot_reasons: ``None`` to count every report, ``"listed"`` to count the
            reports whose boot reason is in this counter's list of the
            settings, ``"unlisted"`` to count those whose boot reason is in no
            list at all.
    """

    name: str
    source: Source
    boot_reasons: str | None = None


COUNTERS = (
    Counter("heartbeats", HEARTBEATS),
    Counter("prob_crashes", CRASH_REPORTS, boot_reasons="listed"),
    Counter("smpl", CRASH_REPORTS, boot_reasons="listed"),
    Counter("other", CRASH_REPORTS, boot_reasons="unlisted"),
)


@dataclass(frozen=True)
class Engine:
    """A pair of stats tables and the report column they group by.

    Attributes:
        name: Short name, used in task ids and the progress table.
        version_table: The all-time stats table.
        daily_table: The per-day stats table.
        key_column: The report column (and stats column) grouped by.
        skip_null_key: Whether reports with a null key are left out.
    """

    name: str
    version_table: str
    daily_table: str
    key_column: str
    skip_null_key: bool


ENGINES = (
    Engine(
        name="version",
        version_table="crashreport_stats_version",
        daily_table="crashreport_stats_versiondaily",
        key_column="build_fingerprint",
        skip_null_key=False,
    ),
    Engine(
        name="radio_version",
        version_table="crashreport_stats_radioversion",
        daily_table="crashreport_stats_radioversiondaily",
        key_column="radio_version",
        # Old clients sent no radio version.
        skip_null_key=True,
    ),
)

DEFAULT_SETTINGS: dict[str, Any] = {
    # The Hiccup Django settings' TIME_ZONE: crash report days are its days.
    "time_zone": "Europe/Amsterdam",
    "boot_reasons": {
        "prob_crashes": ["UNKNOWN", "keyboard power on"],
        "smpl": ["RTC alarm"],
    },
    # How long a Hiccup transaction may stay open between stamping a report's
    # created_at and committing it, and still have the report counted: far
    # longer than any web request of Hiccup lasts.
    "late_commit_lookback_hours": 1,
}


class SettingsError(ValueError):
    """The statistics settings are not usable."""


@dataclass(frozen=True)
class Settings:
    """Validated settings of a run.

    Attributes:
        time_zone: IANA name of the zone whose calendar days bucket crash
            reports.
        boot_reasons: Counter name to the boot reasons it counts, for every
            counter whose ``boot_reasons`` is ``"listed"``.
        late_commit_lookback_hours: How far before a progress mark a fold
            looks for reports committed after the previous fold.
    """

    time_zone: str
    boot_reasons: dict[str, tuple[str, ...]]
    late_commit_lookback_hours: float

    def boot_reasons_for(self, counter: Counter) -> list[str]:
        """Return the boot reasons bound to a counter's filter.

        Args:
            counter: The counter.

        Returns:
            Its own list for a ``"listed"`` counter, every listed reason for an
            ``"unlisted"`` one, and an empty list for a counter without a
            boot reason filter.
        """
        if counter.boot_reasons == "listed":
            return list(self.boot_reasons[counter.name])
        if counter.boot_reasons == "unlisted":
            return [
                reason for reasons in self.boot_reasons.values() for reason in reasons
            ]
        return []


def parse_settings(raw: str | dict[str, Any] | None) -> Settings:
    """Validate settings, filling what is missing from ``DEFAULT_SETTINGS``.

    Args:
        raw: The settings as JSON text or a mapping; ``None`` for the defaults.

    Returns:
        The validated settings.

    Raises:
        SettingsError: A value is missing, of the wrong type, empty or unknown;
            the message names it and says what is expected.
    """
    if raw is None:
        raw = {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as error:
            raise SettingsError(
                f"Airflow Variable {SETTINGS_VARIABLE!r} is not valid JSON ({error}); "
                'expected e.g. {"time_zone": "Europe/Amsterdam"}.'
            ) from None
    if not isinstance(raw, dict):
        raise SettingsError(
            f"Airflow Variable {SETTINGS_VARIABLE!r} must be a JSON object, "
            f"not {type(raw).__name__}."
        )
    unknown = set(raw) - set(DEFAULT_SETTINGS)
    if unknown:
        raise SettingsError(
            f"Unknown key(s) {sorted(unknown)} in {SETTINGS_VARIABLE!r}; "
            f"expected only {sorted(DEFAULT_SETTINGS)}."
        )

    time_zone = raw.get("time_zone", DEFAULT_SETTINGS["time_zone"])
    if not isinstance(time_zone, str) or not time_zone:
        raise SettingsError(
            "Setting 'time_zone' must be an IANA time zone name such as "
            f"'Europe/Amsterdam', got {time_zone!r}."
        )
    try:
        zoneinfo.ZoneInfo(time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            f"Setting 'time_zone' names an unknown time zone {time_zone!r}; "
            "expected an IANA name such as 'Europe/Amsterdam'."
        ) from None

    listed = [counter.name for counter in COUNTERS if counter.boot_reasons == "listed"]
    given_reasons = raw.get("boot_reasons", {})
    if not isinstance(given_reasons, dict):
        raise SettingsError(
            "Setting 'boot_reasons' must be an object of counter name to list of "
            f'boot reasons, e.g. {{"smpl": ["RTC alarm"]}}, got {given_reasons!r}.'
        )
    boot_reasons = {**DEFAULT_SETTINGS["boot_reasons"], **given_reasons}
    if set(boot_reasons) != set(listed):
        raise SettingsError(
            f"Setting 'boot_reasons' must list exactly the counters {listed}, "
            f"got {sorted(boot_reasons)}."
        )
    for name, reasons in boot_reasons.items():
        if (
            not isinstance(reasons, list)
            or not reasons
            or not all(isinstance(reason, str) and reason for reason in reasons)
        ):
            raise SettingsError(
                f"Setting 'boot_reasons.{name}' must be a non-empty list of "
                f"non-empty strings, got {reasons!r}."
            )
    seen: dict[str, str] = {}
    for name, reasons in boot_reasons.items():
        for reason in reasons:
            if reason in seen and seen[reason] != name:
                raise SettingsError(
                    f"Boot reason {reason!r} is listed for both {seen[reason]!r} "
                    f"and {name!r}; a report must count in one counter only."
                )
            seen[reason] = name

    lookback = raw.get(
        "late_commit_lookback_hours", DEFAULT_SETTINGS["late_commit_lookback_hours"]
    )
    if (
        isinstance(lookback, bool)
        or not isinstance(lookback, int | float)
        or not 0 <= lookback <= 24 * 31
    ):
        raise SettingsError(
            "Setting 'late_commit_lookback_hours' must be a number of hours from 0 "
            f"to 744, got {lookback!r}."
        )

    return Settings(
        time_zone=time_zone,
        boot_reasons={name: tuple(reasons) for name, reasons in boot_reasons.items()},
        late_commit_lookback_hours=lookback,
    )
