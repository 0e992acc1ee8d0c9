"""An independent, from-scratch count of the statistics in plain Python.

It reads every report row and applies DOMAIN.md's rules directly, sharing no
code with the SQL: the first received copy of each (device, date) pair counts,
on the day of its date (crash reports: the calendar day in the time zone),
in the counter its boot reason selects.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import psycopg

PROB_CRASHES = {"UNKNOWN", "keyboard power on"}
SMPL = {"RTC alarm"}
COUNTERS = ("heartbeats", "prob_crashes", "smpl", "other")


def _counter(boot_reason: str | None) -> str:
    if boot_reason is None:
        return "heartbeats"
    if boot_reason in PROB_CRASHES:
        return "prob_crashes"
    if boot_reason in SMPL:
        return "smpl"
    return "other"


def expected_statistics(
    connection: psycopg.Connection,
    received_up_to: dt.datetime,
    time_zone: str = "Europe/Amsterdam",
) -> dict[str, Any]:
    """Return the statistics of every report received up to a time.

    Args:
        connection: The Hiccup database.
        received_up_to: Reports with a later ``created_at`` are left out.
        time_zone: The zone whose days bucket crash reports.

    Returns:
        ``version``, ``version_daily``, ``radio_version``,
        ``radio_version_daily`` in the golden files' format.
    """
    zone = zoneinfo.ZoneInfo(time_zone)
    rows = connection.execute(
        "SELECT id, device_id, date::text, created_at, build_fingerprint,"
        " radio_version, NULL FROM crashreports_heartbeat"
    ).fetchall()
    rows = [(*row[:2], dt.date.fromisoformat(row[2]), *row[3:]) for row in rows]
    rows += connection.execute(
        "SELECT id, device_id, date, created_at, build_fingerprint, radio_version,"
        " boot_reason FROM crashreports_crashreport"
    ).fetchall()

    first_copies: dict[tuple, tuple] = {}
    for row in rows:
        report_id, device, date, created_at, *_ = row
        is_crash = row[6] is not None
        pair = (is_crash, device, date)
        if pair not in first_copies or (created_at, report_id) < (
            first_copies[pair][3],
            first_copies[pair][0],
        ):
            first_copies[pair] = row

    result: dict[str, Any] = {}
    for name, key_index in (("version", 4), ("radio_version", 5)):
        versions: dict[str, dict[str, Any]] = {}
        daily: dict[str, dict[str, dict[str, int]]] = {}
        for row in first_copies.values():
            _, _, date, created_at, *_ = row
            key, boot_reason = row[key_index], row[6]
            if created_at > received_up_to or key is None:
                continue
            day = (
                date.astimezone(zone).date() if isinstance(date, dt.datetime) else date
            )
            counter = _counter(boot_reason)
            version = versions.setdefault(
                key,
                {
                    "first_seen_on": day.isoformat(),
                    "released_on": day.isoformat(),
                    "is_official_release": False,
                    "is_beta_release": False,
                    **dict.fromkeys(COUNTERS, 0),
                },
            )
            version[counter] += 1
            if day.isoformat() < version["first_seen_on"]:
                version["first_seen_on"] = version["released_on"] = day.isoformat()
            days = daily.setdefault(key, {})
            days.setdefault(day.isoformat(), dict.fromkeys(COUNTERS, 0))[counter] += 1
        result[name] = versions
        result[f"{name}_daily"] = daily
    return result
