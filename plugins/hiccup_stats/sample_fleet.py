"""A sample Hiccup fleet, generated inside PostgreSQL, for the demo and tests.

``generate`` fills an empty Hiccup schema with devices, heartbeats and crash
reports that look like a phone maker's fleet: Fairphone 2 and 3 devices on
several release tracks, builds rolled out over time (each device installs a
release some days after it comes out, a few never do), a beta track on a few
devices, radio versions tied to builds, old clients without a radio version,
skipped days, late uploads and real boot reasons.

Everything is set-based: one ``INSERT ... SELECT`` over ``generate_series`` per
table, drawing from PostgreSQL's ``random()`` after ``setseed``, so a seed
always gives the same rows and ten million heartbeats take minutes, not hours.
The catalogue (tracks, releases, boot reasons) and the fleet's habits are data
in this module, bound as parameters of the statements in
``sql/sample_fleet_*.sql``.

Production never uses this module: a real Hiccup database has its own reports.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import itertools
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import sqlparse

log = logging.getLogger(__name__)

SQL_FOLDER = Path(__file__).parent / "sql"

STEPS = (
    "sample_fleet_devices.sql",
    "sample_fleet_heartbeats.sql",
    "sample_fleet_crash_reports.sql",
)
"""The statement files that insert the fleet, run in this order."""

TABLES = (
    "auth_user",
    "crashreports_device",
    "crashreports_heartbeat",
    "crashreports_crashreport",
)
"""The Hiccup tables the fleet fills, in load order."""

REPORT_TABLES = ("crashreports_heartbeat", "crashreports_crashreport")
"""The large tables, loaded without their secondary indexes and constraints."""

TRACK_SPACING = 1_000_000
"""Days between two tracks on the scale that picks a device's build.

A device's build is found with one ``width_bucket`` over every track's release
days, each track shifted by its number times this spacing; it must exceed any
install lag plus the longest period by far.
"""

NEVER = 100_000
"""The install lag of a device that never installs updates, in days."""


@dataclass(frozen=True)
class Release:
    """A build released on a track.

    Attributes:
        fingerprint: The build fingerprint, a ``str.format`` template: ``{day}``
            is the release date, ``{tag}`` eight hex digits unique to the
            release.
        radio_version: The radio (modem firmware) version the build ships.
        released: When it comes out, as a fraction of the period: 0 is the
            first device day, 1 the day after the last; negative is before the
            period.
        crashiness: How often devices on it crash, relative to the fleet's
            ``crash_share``.
    """

    fingerprint: str
    radio_version: str
    released: float
    crashiness: float = 1.0


@dataclass(frozen=True)
class Track:
    """A line of releases that a share of the devices follows.

    Attributes:
        name: What the track is.
        share: The share of the devices that follow it.
        releases: Its releases, oldest first; the first is what a device runs
            before it installs the second.
        beta: Whether its devices are beta testers: they install every release
            the day it comes out.
    """

    name: str
    share: float
    releases: tuple[Release, ...]
    beta: bool = False


# Templates of fingerprint templates: the patch number is filled in below, the
# release day and tag once the period is known.
FP2_RADIO = "4437.1-FP2-0-{:02d}"
FP3_RADIO = "MPSS.AT.4.0.c2-00{}-SDM632_GEN_PACK-1"
FP2_OS = "Fairphone/FP2/FP2:7.1.2/{{day:%y.%m}}.{}/gms-{{tag}}:user/release-keys"
FP2_OS_BETA = (
    "Fairphone/FP2/FP2:7.1.2/{{day:%y.%m}}.{}-beta/gms-{{tag}}:user/release-keys"
)
FP2_OPEN_OS = "Fairphone/FP2/FP2:7.1.2/{{day:%y.%m}}.{}/open-{{tag}}:user/release-keys"

FP2_RELEASES = (
    Release(
        "Fairphone/FP2/FP2:6.0.1/FP2-gms-{day:%y.%m}.1/FP2-gms-{day:%y.%m}.1"
        ":user/release-keys",
        FP2_RADIO.format(8),
        released=-3.0,
        crashiness=1.5,
    ),
    Release(FP2_OS.format(1), FP2_RADIO.format(9), released=-0.6, crashiness=1.2),
    Release(FP2_OS.format(2), FP2_RADIO.format(10), released=0.1),
    Release(FP2_OS.format(3), FP2_RADIO.format(11), released=0.45, crashiness=1.4),
    Release(FP2_OS.format(4), FP2_RADIO.format(11), released=0.8, crashiness=0.8),
)

TRACKS = (
    Track("Fairphone 2, Fairphone OS", share=0.54, releases=FP2_RELEASES),
    Track(
        "Fairphone 2, Fairphone OS, beta programme",
        share=0.02,
        beta=True,
        releases=(
            *FP2_RELEASES[:3],
            Release(
                FP2_OS_BETA.format(3),
                FP2_RADIO.format(11),
                released=0.3,
                crashiness=2.5,
            ),
            FP2_RELEASES[3],
            Release(
                FP2_OS_BETA.format(4),
                FP2_RADIO.format(11),
                released=0.65,
                crashiness=2.0,
            ),
            FP2_RELEASES[4],
        ),
    ),
    Track(
        "Fairphone 2, Fairphone Open OS",
        share=0.10,
        releases=(
            Release(FP2_OPEN_OS.format(1), FP2_RADIO.format(10), released=-0.5),
            Release(
                FP2_OPEN_OS.format(2),
                FP2_RADIO.format(11),
                released=0.5,
                crashiness=0.9,
            ),
        ),
    ),
    Track(
        "Fairphone 3",
        share=0.34,
        releases=tuple(
            Release(
                f"Fairphone/FP3/FP3:10/8901.3.A.{build}.{{day:%Y%m%d}}/"
                f"{{day:%m%d}}{stamp}:user/release-keys",
                FP3_RADIO.format(radio),
                released=released,
                crashiness=crashiness,
            )
            for build, stamp, radio, released, crashiness in (
                ("0121", "0950", 167, -1.5, 1.1),
                ("0124", "0327", 167, -0.4, 0.9),
                ("0127", "2131", 189, 0.2, 1.0),
                ("0130", "1809", 189, 0.7, 0.7),
            )
        ),
    ),
)
"""The release tracks of the fleet; their shares add up to 1."""


@dataclass(frozen=True)
class BootReason:
    """A boot reason of crash reports and how often it occurs.

    Attributes:
        name: The ``boot_reason`` the phone sends.
        weight: Its share of the crash reports.
        power_on_reason: The ``power_on_reason`` sent with it.
    """

    name: str
    weight: float
    power_on_reason: str


WARM_RESET = "Triggered from Warm Reset"

BOOT_REASONS = (
    BootReason("keyboard power on", 0.36, "Triggered from KPD (power key press)"),
    BootReason("UNKNOWN", 0.22, WARM_RESET),
    BootReason("RTC alarm", 0.21, "Triggered from SMPL (sudden momentary power loss)"),
    BootReason("Reboot", 0.06, WARM_RESET),
    BootReason("hard reset", 0.04, "Triggered from Hard Reset"),
    BootReason("Watchdog reset", 0.03, WARM_RESET),
    BootReason("usb charger", 0.03, "Triggered from USB (USB charger insertion)"),
    BootReason("kernel panic", 0.02, WARM_RESET),
    BootReason("wall charger", 0.02, "Triggered from CBL (external power supply)"),
    BootReason("PON1", 0.01, WARM_RESET),
)
"""The boot reasons of crash reports; their weights add up to 1."""

POWER_OFF_REASONS = (
    # Repeated entries are the common ones: one is drawn uniformly.
    "Triggered from PS_HOLD (PS_HOLD/MSM controlled shutdown)",
    "Triggered from PS_HOLD (PS_HOLD/MSM controlled shutdown)",
    "Triggered from PS_HOLD (PS_HOLD/MSM controlled shutdown)",
    "Triggered from PS_HOLD (PS_HOLD/MSM controlled shutdown)",
    "Triggered from KPDPWR_N (Long Power Key hold)",
    "Triggered from KPDPWR_N (Long Power Key hold)",
    "Triggered from UVLO (Under Voltage Lock Out)",
    "UNKNOWN",
    "Triggered from S3_RESET (PMIC watchdog)",
    "Triggered from GP_FAULT0 (general purpose fault)",
)


@dataclass(frozen=True)
class Habits:
    """How the fleet's devices and their owners behave.

    Attributes:
        app_version: The Hiccup app version of current clients.
        old_app_versions: App versions of old clients, which send no radio
            version.
        old_client_share: The share of devices running an old client.
        mean_install_lag_days: Mean days between a release and its install.
        straggler_share: The share of devices that never install a release.
        max_skip_share: The most days a device sends no heartbeat on; each
            device skips ``max_skip_share * u**3`` of its days, u uniform, so
            most skip few days and some many (mean ``max_skip_share / 4``).
        crash_share: Crash reports per device day on a build of crashiness 1
            and a device of average crashiness (each device's is exponential,
            mean 1).
        late_share: The share of reports uploaded late, days to weeks after
            their day.
        mean_late_days: Mean delay of a late upload beyond the first day.
        max_late_days: The longest delay of a late upload beyond its first
            day.
        mean_upload_minutes: Mean delay between a crash and its report, and
            between a heartbeat's sending and its arrival.
    """

    app_version: int = 20004
    old_app_versions: tuple[int, ...] = (10100, 10101, 10103)
    old_client_share: float = 0.05
    mean_install_lag_days: float = 6.0
    straggler_share: float = 0.04
    max_skip_share: float = 0.24
    crash_share: float = 0.044
    late_share: float = 0.03
    mean_late_days: float = 6.0
    max_late_days: int = 60
    mean_upload_minutes: float = 20.0


class FleetError(ValueError):
    """The fleet cannot be generated as asked."""


def period(end: dt.date, days: int) -> tuple[dt.date, dt.date]:
    """Return the first and last device day of a fleet ending at ``end``."""
    return end - dt.timedelta(days=days), end - dt.timedelta(days=1)


def received_until(end: dt.date) -> dt.datetime:
    """Return the time up to which a fleet ending at ``end`` received reports."""
    return dt.datetime.combine(end, dt.time(), tzinfo=dt.UTC)


def release_day(release: Release, days: int) -> int:
    """Return the day a release comes out, counted from the first device day."""
    return round(release.released * days)


def fingerprint(release: Release, first_day: dt.date, days: int) -> str:
    """Return the build fingerprint of a release in a period.

    Args:
        release: The release.
        first_day: The period's first device day.
        days: The period's length in days.

    Returns:
        The fingerprint, dated by the release day.
    """
    day = first_day + dt.timedelta(days=release_day(release, days))
    tag = hashlib.md5(f"{release.fingerprint}|{day}".encode()).hexdigest()[:8]
    return release.fingerprint.format(day=day, tag=tag)


def catalogue(end: dt.date, days: int) -> dict[str, Any]:
    """Return the releases of every track as the arrays the statements bind.

    Every track's releases are laid on one scale of days, track ``t`` shifted
    by ``t * TRACK_SPACING``, so that one ``width_bucket`` of a device's
    ``track * TRACK_SPACING + day - install_lag`` over ``release_days`` finds
    the position of its build in the other arrays.

    Args:
        end: The day after the last device day.
        days: The number of device days.

    Returns:
        Parameters by name: ``track_shares`` (the lower bounds of each track
        on [0, 1)), ``beta_tracks`` and, per release position,
        ``release_days``, ``fingerprints``, ``radio_versions`` and
        ``crashiness``.
    """
    first_day, _ = period(end, days)
    release_days, fingerprints, radio_versions, crashiness = [], [], [], []
    for number, track in enumerate(TRACKS, start=1):
        for position, release in enumerate(track.releases):
            # The first release is what every device of the track starts on.
            offset = (
                -TRACK_SPACING // 2 if position == 0 else release_day(release, days)
            )
            release_days.append(number * TRACK_SPACING + offset)
            fingerprints.append(fingerprint(release, first_day, days))
            radio_versions.append(release.radio_version)
            crashiness.append(release.crashiness)
    if release_days != sorted(release_days):
        raise FleetError("The releases of a track must be listed oldest first.")
    return {
        "track_shares": _lower_bounds(track.share for track in TRACKS),
        "beta_tracks": [
            number for number, track in enumerate(TRACKS, start=1) if track.beta
        ],
        "release_days": release_days,
        "fingerprints": fingerprints,
        "radio_versions": radio_versions,
        "crashiness": crashiness,
    }


def parameters(
    *, devices: int, days: int, end: dt.date, seed: float, habits: Habits
) -> dict[str, Any]:
    """Return every parameter the statements bind.

    Args:
        devices: The number of devices.
        days: The number of device days.
        end: The day after the last device day.
        seed: The seed of ``random()``.
        habits: The fleet's habits.

    Returns:
        The parameters by name.
    """
    first_day, _ = period(end, days)
    return {
        "seed": seed,
        "devices": devices,
        "report_tables": list(REPORT_TABLES),
        "days": days,
        "first_day": first_day,
        "received_until": received_until(end),
        "track_spacing": TRACK_SPACING,
        "never": NEVER,
        **catalogue(end, days),
        "boot_reason_shares": _lower_bounds(reason.weight for reason in BOOT_REASONS),
        "boot_reasons": [reason.name for reason in BOOT_REASONS],
        "power_on_reasons": [reason.power_on_reason for reason in BOOT_REASONS],
        "power_off_reasons": list(POWER_OFF_REASONS),
        **dataclasses.asdict(habits),
        "old_app_versions": list(habits.old_app_versions),
    }


def generate(
    connection: psycopg.Connection,
    *,
    devices: int,
    days: int,
    end: dt.date,
    seed: float = 0.42,
    habits: Habits | None = None,
) -> dict[str, int]:
    """Fill an empty Hiccup schema with a sample fleet, in one transaction.

    What the database holds afterwards is what a Hiccup server would hold at
    ``end`` 00:00 UTC, the fleet's cut-off:

    - device days are the ``days`` days from ``end - days`` to ``end - 1``;
      every device sends at most one heartbeat per device day and crashes at
      most once per UTC day, at a time spread over that day (a crash late in
      the evening falls on the next day in Europe/Amsterdam);
    - a heartbeat is sent during its day in Central European Time (from 23:00
      UTC the evening before) and received minutes later, a crash report
      minutes after the crash; ``late_share`` of both arrive days to weeks
      later;
    - nothing is received after the cut-off: a report that would arrive later
      is not there yet (the last days miss the reports still on their way, as
      on a live server). No report is received more than an hour before the
      first device day.

    Values depend only on the arguments (and PostgreSQL's ``random()``, the
    same from version 15 on): a seed always gives the same rows, ids
    included. Heartbeats are numbered by day (``device_local_id``, with gaps
    on skipped days), crash reports in the order of the crashes.

    The report tables are loaded without their secondary indexes and
    constraints, which are then rebuilt exactly as they were, in the same
    transaction.

    Args:
        connection: An open connection to a database whose Hiccup tables are
            empty, not inside a transaction; the fleet is committed on return.
        devices: The number of devices, at least 1.
        days: The number of device days, at least 1; about
            ``0.94 * devices * days`` heartbeats are generated.
        end: The day after the last device day.
        seed: The seed of PostgreSQL's ``random()``, between -1 and 1.
        habits: The fleet's habits; ``Habits()`` when not given.

    Returns:
        The number of rows of each table, by table name.

    Raises:
        FleetError: An argument is out of range, the connection is inside a
            transaction, or the Hiccup tables are not empty.
    """
    if devices < 1 or not 1 <= days < NEVER:
        raise FleetError(
            f"devices must be at least 1 and days between 1 and {NEVER - 1}, "
            f"got {devices} and {days}."
        )
    if not -1.0 <= seed <= 1.0:
        raise FleetError(f"seed must lie between -1 and 1, got {seed}.")
    if connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        raise FleetError("Generate the fleet outside any open transaction.")
    with connection.cursor() as cursor:
        for statement in read_statements("sample_fleet_check.sql"):
            cursor.execute(statement)
        (filled,) = cursor.fetchone()
    connection.rollback()
    if filled:
        raise FleetError(f"The Hiccup tables {', '.join(TABLES)} must be empty.")

    params = parameters(
        devices=devices, days=days, end=end, seed=seed, habits=habits or Habits()
    )
    log.info(
        "Generating %s devices over %s days up to %s (seed %s)",
        devices,
        days,
        end,
        seed,
    )
    with connection.transaction(), connection.cursor() as cursor:
        (rebuilt,) = _run(cursor, "sample_fleet_indexes.sql", params)
        for drop_statement, _ in reversed(rebuilt):
            cursor.execute(drop_statement)

        for step in STEPS:
            _run(cursor, step, params)

        started = time.monotonic()
        for _, restore_statement in rebuilt:
            cursor.execute(restore_statement)
        log.info(
            "Rebuilt %s indexes and constraints in %.1f s",
            len(rebuilt),
            time.monotonic() - started,
        )

        (counted,) = _run(cursor, "sample_fleet_finish.sql", params)
    counts = dict(counted)
    log.info("Generated %s", counts)
    return counts


def _run(
    cursor: psycopg.Cursor, name: str, params: dict[str, Any]
) -> list[list[tuple]]:
    """Run the statements of a file; return the rows of each that returns rows."""
    started = time.monotonic()
    results = []
    for statement in read_statements(name):
        cursor.execute(statement, params)
        if cursor.description and cursor.description[0].name != "setseed":
            results.append(cursor.fetchall())
    log.info("%s took %.1f s", name, time.monotonic() - started)
    return results


def read_statements(name: str) -> list[str]:
    """Return the statements of a file of ``sql/``, without empty ones.

    Args:
        name: The file name, e.g. ``"sample_fleet_heartbeats.sql"``.

    Returns:
        Its statements, in order, each without the closing semicolon.
    """
    text = (SQL_FOLDER / name).read_text()
    return [
        statement.strip().rstrip(";")
        for statement in sqlparse.split(text)
        if sqlparse.format(statement, strip_comments=True).strip()
    ]


def _lower_bounds(weights: Any) -> list[float]:
    """Return the lower bound of each weight's share of [0, 1)."""
    return [0.0, *itertools.accumulate(weights)][:-1]
