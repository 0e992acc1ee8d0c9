"""Random histories of reports, update runs, retries, re-runs and resets.

A hypothesis state machine inserts heartbeats and crash reports, runs update
windows (in order, out of order, again, with gaps), retries single counter
tasks and resets at random cut-offs, on a fresh schema per history. After
every run the statistics must equal an independent count from scratch
(``tests.reference``) of what every counter has counted up to, and the
invariants of the statistics tables must hold.

The normal suite runs a fixed, reproducible set of histories; ``make soak``
(``HICCUP_SOAK=1``) runs many more, newly random ones, and prints how many.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import zoneinfo
from dataclasses import dataclass, replace

import psycopg
from hiccup_stats import schema, statements
from hiccup_stats.config import COUNTERS, DEFAULT_SETTINGS, ENGINES
from hypothesis import HealthCheck, event, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests import reference, stats
from tests.factory import HiccupFactory, utc

SUPPRESSED = [HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile(
    "hiccup-stateful",
    max_examples=300,
    stateful_step_count=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=SUPPRESSED,
)
settings.register_profile(
    "hiccup-soak",
    max_examples=int(os.environ.get("HICCUP_SOAK_EXAMPLES", "800")),
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=SUPPRESSED,
)
PROFILE = "hiccup-soak" if os.environ.get("HICCUP_SOAK") else "hiccup-stateful"

AMSTERDAM = zoneinfo.ZoneInfo("Europe/Amsterdam")
# Two days before Amsterdam's 23-hour day (29 March 2026).
BASE = utc(2026, 3, 27)
SIX_HOURS = dt.timedelta(hours=6)
MICROSECOND = dt.timedelta(microseconds=1)
# Before any report: what a counter that never ran has counted up to.
NEVER = dt.datetime.min.replace(tzinfo=dt.UTC)
LOOKBACK = dt.timedelta(hours=DEFAULT_SETTINGS["late_commit_lookback_hours"])

KEYS = [(engine.name, counter.name) for engine in ENGINES for counter in COUNTERS]
COUNTER_NAMES = [counter.name for counter in COUNTERS]
BUILDS = [f"Fairphone/FP3/FP3:10/8901.4.A.0{n}/gms:user/release-keys" for n in (1, 2)]
BUILDS.append("Fairphone/FP4/FP4:12/FP4.BETA/user/release-keys")
RADIOS = ["8901.4.A.0.1-FP3", "8901.4.A.0.2-FP3", "", None]
BOOT_REASONS = [
    "UNKNOWN",
    "keyboard power on",
    "RTC alarm",
    "Reboot",
    "kernel panic",
    "unknown",
    "RTC alarm ",
]
# How late reports arrive, in days (-1: the device clock runs a day ahead).
LATENESS_DAYS = [0, 0, 0, 1, 2, 40, -1]
# Window ends counted, in windows before the latest one that has ended: mostly
# the latest, sometimes a cleared old run or a window run out of order.
WINDOWS_BACK = [0, 0, 0, 0, 1, 2, 3, 6, 12]
# Reports are received mostly in the next window, sometimes in a later one.
WINDOWS_AHEAD = [0, 0, 0, 1, 2]
# What happens around an update run.
AROUND_A_RUN = ["nothing", "log_files_arrive", "received_twice", "received_twice"]
CRASH_TIMES = [
    "amsterdam_midnight",
    "before_amsterdam_midnight",
    "after_amsterdam_midnight",
    "utc_23_30",
    "any",
]
PLACEMENTS = [
    "on_boundary",
    "on_boundary",
    "before_boundary",
    "after_boundary",
    "just_after_counted",
    "between",
    "now",
]


# What a report says, and when it is received: drawn alike by several rules.
CONTENT = {
    "build": st.sampled_from(BUILDS),
    "radio": st.sampled_from(RADIOS),
    "boot_reason": st.sampled_from(BOOT_REASONS),
}
RECEIPT = {
    "placement": st.sampled_from(PLACEMENTS),
    "ahead": st.sampled_from(WINDOWS_AHEAD),
    "seconds": st.integers(1, 18 * 3600),
}


def fresh_schema(connection: psycopg.Connection) -> None:
    """Give an autocommit connection an empty public schema with Hiccup's tables."""
    connection.execute("RESET ALL")
    connection.execute("DROP SCHEMA IF EXISTS public CASCADE")
    connection.execute("CREATE SCHEMA public")
    connection.autocommit = False
    schema.create_hiccup_schema(connection)
    connection.autocommit = True


def boundary(index: int) -> dt.datetime:
    """Return the index-th six-hour window end after BASE."""
    return BASE + index * SIX_HOURS


def latest_boundary_index(now: dt.datetime) -> int:
    """Return the index of the latest window end not after now."""
    return (now - BASE) // SIX_HOURS


def expected_at_marks(
    connection: psycopg.Connection, marks: dict[tuple[str, str], dt.datetime | None]
) -> dict:
    """Return the statistics when each counter has counted up to its own mark.

    With one mark for all counters this is ``reference.expected_statistics``;
    otherwise each counter column comes from the count at its own mark, and
    rows, totals and first days follow from the columns.
    """
    distinct = set(marks.values())
    if len(distinct) == 1:
        (mark,) = distinct
        expected = reference.expected_statistics(connection, mark or NEVER)
        return stats.tables(expected)

    counted = {
        mark: reference.expected_statistics(connection, mark or NEVER)
        for mark in distinct
    }
    result = {}
    for engine in ENGINES:
        daily: dict[str, dict[str, dict[str, int]]] = {}
        for counter in COUNTER_NAMES:
            expected = counted[marks[(engine.name, counter)]][f"{engine.name}_daily"]
            for key, days in expected.items():
                for day, counts in days.items():
                    if counts[counter]:
                        row = daily.setdefault(key, {}).setdefault(
                            day, dict.fromkeys(COUNTER_NAMES, 0)
                        )
                        row[counter] = counts[counter]
        versions = {}
        for key, days in daily.items():
            versions[key] = {
                "first_seen_on": min(days),
                "released_on": min(days),
                "is_official_release": False,
                "is_beta_release": False,
                **{c: sum(day[c] for day in days.values()) for c in COUNTER_NAMES},
            }
        result[engine.name] = versions
        result[f"{engine.name}_daily"] = daily
    return result


@dataclass(frozen=True)
class Report:
    """What the machine inserted, to send copies of it later."""

    kind: str
    device: int
    date: dt.date | dt.datetime
    created_at: dt.datetime
    build: str
    radio: str | None
    boot_reason: str


class Tally:
    """How much the machines did, over every history of a test run."""

    sequences = 0
    steps = 0
    compared = 0
    skipped_comparisons = 0


class HiccupHistory(RuleBasedStateMachine):
    """One history of a Hiccup database and its statistics runs."""

    connection: psycopg.Connection

    def __init__(self) -> None:
        super().__init__()
        fresh_schema(self.connection)
        self.hiccup = HiccupFactory(self.connection)
        self.now = BASE
        self.marks: dict[tuple[str, str], dt.datetime | None] = dict.fromkeys(KEYS)
        self.metadata: list[dt.datetime] = []
        self.reports: list[Report] = []
        self.devices: list[int] = []
        self.unique_pairs = True
        # Counters that have not yet folded a report committed after their mark.
        self.pending_late: set[tuple[str, str]] = set()
        self.invariants_checked = 0
        Tally.sequences += 1

    # --- Set-up -----------------------------------------------------------

    @initialize(
        unique_pairs=st.sampled_from([False, True, False]), devices=st.integers(2, 4)
    )
    def start(self, unique_pairs: bool, devices: int) -> None:
        self.unique_pairs = unique_pairs
        if not unique_pairs:
            self.hiccup.allow_duplicates()
        self.devices = [self.hiccup.device() for _ in range(devices)]
        note(f"unique (device, date) pairs: {unique_pairs}")

    # --- Time and reports -------------------------------------------------

    def counted_until(self) -> dt.datetime:
        """The latest mark of any counter: new reports are received after it."""
        marks = [mark for mark in self.marks.values() if mark is not None]
        return max(marks, default=BASE - SIX_HOURS)

    def received_at(self, placement: str, ahead: int, seconds: int) -> dt.datetime:
        """Pick a created_at after every mark; move now forward to it."""
        counted = self.counted_until()
        next_index = latest_boundary_index(counted) + 1 + ahead
        if placement == "on_boundary":
            created_at = boundary(next_index)
        elif placement == "before_boundary":
            created_at = max(boundary(next_index) - MICROSECOND, counted + MICROSECOND)
        elif placement == "after_boundary":
            created_at = boundary(next_index) + MICROSECOND
        elif placement == "just_after_counted":
            created_at = counted + MICROSECOND
        elif placement == "between":
            created_at = counted + dt.timedelta(seconds=seconds)
        else:
            created_at = max(self.now, counted + MICROSECOND)
        self.now = max(self.now, created_at)
        return created_at

    def device_date(
        self,
        kind: str,
        created_at: dt.datetime,
        lateness: int,
        crash_time: str,
        seconds: int,
    ) -> dt.date | dt.datetime:
        day = created_at.astimezone(AMSTERDAM).date() - dt.timedelta(days=lateness)
        if kind == "heartbeat":
            return day
        midnight = dt.datetime.combine(day, dt.time(), AMSTERDAM).astimezone(dt.UTC)
        if crash_time == "amsterdam_midnight":
            return midnight
        if crash_time == "before_amsterdam_midnight":
            return midnight - MICROSECOND
        if crash_time == "after_amsterdam_midnight":
            return midnight + MICROSECOND
        if crash_time == "utc_23_30":
            return dt.datetime.combine(day, dt.time(23, 30), dt.UTC)
        return midnight + dt.timedelta(seconds=seconds % 86_400)

    def insert(self, report: Report) -> None:
        if report.kind == "heartbeat":
            self.hiccup.heartbeat(
                report.device,
                report.date,
                report.created_at,
                report.build,
                report.radio,
            )
        else:
            self.hiccup.crash_report(
                report.device,
                report.date,
                report.created_at,
                report.boot_reason,
                report.build,
                report.radio,
            )
        self.reports.append(report)
        note(f"inserted {report}")

    def has_pair(self, kind: str, device: int, date: dt.date | dt.datetime) -> bool:
        return any(
            (r.kind, r.device, r.date) == (kind, device, date) for r in self.reports
        )

    def first_copy(self, kind: str, device: int, date: dt.date | dt.datetime) -> Report:
        # Inserted in id order, so the first of equal created_at is the earliest.
        copies = [
            r
            for r in self.reports
            if (r.kind, r.device, r.date) == (kind, device, date)
        ]
        return min(copies, key=lambda r: r.created_at)

    @rule(
        kind=st.sampled_from(["heartbeat", "heartbeat", "crash"]),
        device=st.integers(0, 3),
        **CONTENT,
        **RECEIPT,
        lateness=st.sampled_from(LATENESS_DAYS),
        crash_time=st.sampled_from(CRASH_TIMES),
        count=st.integers(1, 3),
    )
    def receive_reports(
        self,
        kind: str,
        device: int,
        build: str,
        radio: str | None,
        boot_reason: str,
        placement: str,
        ahead: int,
        seconds: int,
        lateness: int,
        crash_time: str,
        count: int,
    ) -> None:
        for copy in range(count):
            created_at = self.received_at(placement, ahead, seconds + copy)
            device_id = self.devices[(device + copy) % len(self.devices)]
            date = self.device_date(kind, created_at, lateness, crash_time, seconds)
            if self.unique_pairs and self.has_pair(kind, device_id, date):
                # Current Hiccup databases refuse a second copy.
                device_id = self.hiccup.device()
                self.devices.append(device_id)
            self.insert(
                Report(kind, device_id, date, created_at, build, radio, boot_reason)
            )

    @precondition(lambda self: not self.unique_pairs and self.reports)
    @rule(
        which=st.integers(0, 10_000),
        same_content=st.booleans(),
        **CONTENT,
        **RECEIPT,
    )
    def receive_a_copy_again(
        self,
        which: int,
        same_content: bool,
        build: str,
        radio: str | None,
        boot_reason: str,
        placement: str,
        ahead: int,
        seconds: int,
    ) -> None:
        original = self.reports[which % len(self.reports)]
        created_at = self.received_at(placement, ahead, seconds)
        if same_content:
            build, radio, boot_reason = (
                original.build,
                original.radio,
                original.boot_reason,
            )
        self.insert(
            Report(
                original.kind,
                original.device,
                original.date,
                created_at,
                build,
                radio,
                boot_reason,
            )
        )

    @precondition(lambda self: any(mark is not None for mark in self.marks.values()))
    @rule(
        kind=st.sampled_from(["heartbeat", "crash"]),
        **CONTENT,
        before_mark=st.integers(0, LOOKBACK // dt.timedelta(microseconds=1) - 1),
        lateness=st.sampled_from(LATENESS_DAYS),
        crash_time=st.sampled_from(CRASH_TIMES),
        seconds=st.integers(0, 86_399),
    )
    def commit_late(
        self,
        kind: str,
        build: str,
        radio: str | None,
        boot_reason: str,
        before_mark: int,
        lateness: int,
        crash_time: str,
        seconds: int,
    ) -> None:
        """A report stamped before the latest mark, committed only now.

        Within the look-back, so the next fold of each counter that has passed
        it counts it; until then the statistics lag the count from scratch.
        """
        created_at = self.counted_until() - dt.timedelta(microseconds=before_mark)
        device = self.hiccup.device()
        date = self.device_date(kind, created_at, lateness, crash_time, seconds)
        self.insert(Report(kind, device, date, created_at, build, radio, boot_reason))
        self.mark_pending(created_at)

    @precondition(lambda self: not self.unique_pairs and self.reports)
    @rule(
        which=st.integers(0, 10_000),
        when=st.sampled_from(
            [
                "before_mark",
                "before_first_copy",
                "with_first_copy",
                "before_a_mark",
                "before_a_mark",
            ]
        ),
        before_mark=st.integers(0, LOOKBACK // dt.timedelta(microseconds=1) - 1),
    )
    def commit_a_copy_late(self, which: int, when: str, before_mark: int) -> None:
        """A copy of a pair's first copy, stamped before the latest mark.

        Same content as the first copy, so whichever copy counts gives the
        same numbers; stamped at or just before the first copy where that lies
        within the look-back. ``before_a_mark`` prefers a first copy received
        exactly at a window end: the copy counted in that window must keep the
        earlier, later committed one out.
        """
        counted = self.counted_until()
        originals = self.reports
        if when != "before_mark":
            # Copies received within the look-back: maybe counted already.
            originals = [
                r for r in originals if counted - LOOKBACK < r.created_at <= counted
            ] or originals
        if when == "before_a_mark":
            marks = set(self.marks.values())
            originals = [r for r in originals if r.created_at in marks] or originals
            when = "before_first_copy"
        original = originals[which % len(originals)]
        first = self.first_copy(original.kind, original.device, original.date)
        created_at = counted - dt.timedelta(microseconds=before_mark)
        if when != "before_mark":
            nudge = MICROSECOND if when == "before_first_copy" else dt.timedelta(0)
            if counted - LOOKBACK < first.created_at - nudge <= counted:
                created_at = first.created_at - nudge
        self.insert(
            Report(
                first.kind,
                first.device,
                first.date,
                created_at,
                first.build,
                first.radio,
                first.boot_reason,
            )
        )
        self.mark_pending(created_at)

    def mark_pending(self, created_at: dt.datetime) -> None:
        assert created_at > self.counted_until() - LOOKBACK
        self.pending_late |= {
            key
            for key, mark in self.marks.items()
            if mark is not None and mark >= created_at
        }

    @rule(
        hours=st.integers(0, 30),
        seconds=st.integers(0, 3599),
        to_boundary=st.booleans(),
    )
    def time_passes(self, hours: int, seconds: int, to_boundary: bool) -> None:
        if to_boundary:
            self.now = boundary(latest_boundary_index(self.now) + 1 + hours // 6)
        else:
            self.now += dt.timedelta(hours=hours, seconds=seconds)

    @rule(
        zone=st.sampled_from(["UTC", "Pacific/Kiritimati", "America/St_Johns"]),
    )
    def session_time_zone_changes(self, zone: str) -> None:
        self.connection.execute("SELECT set_config('TimeZone', %s, false)", (zone,))

    # --- Runs -------------------------------------------------------------

    def window_end(self, back: int) -> dt.datetime:
        return boundary(latest_boundary_index(self.now) - back)

    @rule(
        back=st.sampled_from(WINDOWS_BACK),
        around=st.sampled_from(AROUND_A_RUN),
        kind=st.sampled_from(["heartbeat", "crash"]),
        before_end=st.sampled_from([0, 1, 1_800_000_000]),
    )
    def update_run(self, back: int, around: str, kind: str, before_end: int) -> None:
        """An update run for a window ending at or before now.

        back=0 is the latest window (after a pause: with a gap); larger values
        are cleared old runs or windows run out of order. Around the run, maybe:
        the log files of the crash reports of the window's last six hours
        arrive after it; or Hiccup receives a report twice at once, near the
        window end, and the copy stamped a microsecond earlier commits after
        the run.
        """
        window_end = self.window_end(back)
        received_twice = None
        if around == "received_twice" and not self.unique_pairs:
            created_at = window_end - dt.timedelta(microseconds=before_end)
            if created_at > self.counted_until():
                received_twice = self.receive_new_pair(kind, created_at)
        latest_before = max(self.metadata, default=None)
        stats.update(self.connection, window_end)

        for key in KEYS:
            self.advance(key, window_end)
        if latest_before is None or latest_before < window_end:
            self.metadata.append(window_end)
        event(f"update: {'re-run' if back else 'latest'} window")
        self.check()
        latest = max(self.metadata)
        assert latest_before is None or latest >= latest_before

        if around == "log_files_arrive":
            self.connection.execute(
                "UPDATE crashreports_crashreport"
                " SET next_logfile_key = next_logfile_key + 1"
                " WHERE created_at > %s AND created_at <= %s",
                (window_end - SIX_HOURS, window_end),
            )
        elif received_twice is not None:
            late = replace(
                received_twice, created_at=received_twice.created_at - MICROSECOND
            )
            self.insert(late)
            self.mark_pending(late.created_at)

    def receive_new_pair(self, kind: str, created_at: dt.datetime) -> Report:
        device = self.hiccup.device()
        date = self.device_date(kind, created_at, 0, "any", 3600)
        report = Report(
            kind, device, date, created_at, BUILDS[0], RADIOS[0], BOOT_REASONS[0]
        )
        self.insert(report)
        return report

    @rule(
        back=st.sampled_from(WINDOWS_BACK),
        key=st.sampled_from(KEYS),
    )
    def counter_task_alone(self, back: int, key: tuple[str, str]) -> None:
        """One counter task, as a retry or a run whose other tasks wait."""
        window_end = self.window_end(back)
        before = self.marks[key]
        totals_before = self.totals()

        (summary,) = stats.count_one(self.connection, window_end, *key)

        engine, counter, counted_from, counted_until, reports = summary[:5]
        assert (engine, counter) == key
        assert counted_until == iso(window_end)
        if before is not None and window_end <= before:
            assert (counted_from, reports) == (None, 0)
        else:
            assert counted_from == (iso(before) if before else "-infinity")
            assert reports == self.totals()[key] - totals_before[key]
        self.advance(key, window_end)
        self.check()

    @rule(
        how=st.sampled_from(
            ["boundary", "anywhere", "now", "on_a_mark", "on_a_report"]
        ),
        back=st.sampled_from(WINDOWS_BACK),
        offset=st.integers(0, 10**13),
        nudge=st.sampled_from([-1, 0, 1]),
    )
    def reset_run(self, how: str, back: int, offset: int, nudge: int) -> None:
        """A reset at a cut-off not after now, on or off the six-hour grid."""
        earliest = BASE - dt.timedelta(days=1)
        span = (self.now - earliest) // MICROSECOND
        if how == "boundary":
            cut_off = self.window_end(back)
        elif how == "anywhere":
            cut_off = earliest + (offset % (span + 1)) * MICROSECOND
        elif how == "now":
            cut_off = self.now
        elif how == "on_a_report" and self.reports:
            received = sorted({report.created_at for report in self.reports})
            cut_off = received[offset % len(received)] + nudge * MICROSECOND
            cut_off = min(cut_off, self.now)
        else:
            marks = sorted({m for m in self.marks.values() if m is not None})
            cut_off = marks[offset % len(marks)] if marks else self.now
            cut_off = min(cut_off + nudge * MICROSECOND, self.now)

        stats.reset(self.connection, cut_off)

        self.marks = dict.fromkeys(KEYS, cut_off)
        self.metadata = [cut_off]
        self.pending_late.clear()
        event(f"reset: {how}")
        self.check()

    def advance(self, key: tuple[str, str], window_end: dt.datetime) -> None:
        before = self.marks[key]
        if before is None or window_end > before:
            self.marks[key] = window_end
            self.pending_late.discard(key)

    # --- What must hold ---------------------------------------------------

    @invariant()
    def count_steps(self) -> None:
        # Checked once before the first step, then after every step.
        if self.invariants_checked:
            Tally.steps += 1
        self.invariants_checked += 1

    def totals(self) -> dict[tuple[str, str], int]:
        totals = dict.fromkeys(KEYS, 0)
        for engine in ENGINES:
            for counter in COUNTER_NAMES:
                (total,) = self.connection.execute(
                    f"SELECT coalesce(sum({counter}), 0) FROM {engine.version_table}"
                ).fetchone()
                totals[(engine.name, counter)] = total
        return totals

    def check(self) -> None:
        progress = {
            (engine, counter): until
            for engine, counter, until in self.connection.execute(
                "SELECT engine, counter,"
                " CASE WHEN isfinite(counted_until) THEN counted_until END"
                " FROM hiccup_stats_progress"
            )
        }
        assert progress == self.marks

        counted = stats.read_statistics(self.connection)
        assert counted["stats_metadata"]["updated_at"] == [
            recorded.isoformat() for recorded in self.metadata
        ]
        self.check_tables(counted)

        if self.pending_late:
            Tally.skipped_comparisons += 1
            return
        expected = expected_at_marks(self.connection, self.marks)
        assert stats.tables(counted) == expected
        Tally.compared += 1

    def check_tables(self, counted: dict) -> None:
        for engine in ENGINES:
            versions = counted[engine.name]
            daily = counted[f"{engine.name}_daily"]
            assert set(daily) == set(versions)
            for key, version in versions.items():
                for counter in COUNTER_NAMES:
                    sums = sum(day[counter] for day in daily[key].values())
                    assert version[counter] == sums, (engine.name, key, counter)
                    assert version[counter] >= 0
                    assert all(day[counter] >= 0 for day in daily[key].values())
                assert version["first_seen_on"] == min(daily[key])

            (pairs_with_two_rows,) = self.connection.execute(
                f"SELECT count(*) FROM (SELECT FROM {engine.daily_table}"
                " GROUP BY version_id, date HAVING count(*) > 1) AS twice"
            ).fetchone()
            assert pairs_with_two_rows == 0

            verdicts = self.connection.execute(
                statements.check_engine(engine), {}
            ).fetchone()
            assert verdicts[:3] == (True, True, True), verdicts[3]

        if self.metadata:
            verdicts = self.connection.execute(
                statements.check_metadata(), {"window_end": max(self.metadata)}
            ).fetchone()
            assert verdicts[:3] == (True, True, True), verdicts[3]


def iso(moment: dt.datetime) -> str:
    """Format a mark as a fold's summary does."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_random_histories_match_a_count_from_scratch(database_conninfo):
    started = time.monotonic()
    Tally.sequences = Tally.steps = Tally.compared = Tally.skipped_comparisons = 0

    with psycopg.connect(database_conninfo, autocommit=True) as connection:
        HiccupHistory.connection = connection
        run_state_machine_as_test(HiccupHistory, settings=settings.get_profile(PROFILE))

    print(
        f"\n{PROFILE}: {Tally.sequences} histories, {Tally.steps} steps, "
        f"{Tally.compared} comparisons with the count from scratch "
        f"({Tally.skipped_comparisons} deferred by late commits) "
        f"in {time.monotonic() - started:.0f} s"
    )
    assert Tally.sequences >= settings.get_profile(PROFILE).max_examples
    assert Tally.compared > Tally.sequences
