"""The counting statements on small hand-made rows, with exact numbers."""

from __future__ import annotations

import datetime as dt

import pytest
from hiccup_stats.config import parse_settings

from tests import stats
from tests.factory import FINGERPRINT, RADIO, utc

W0 = utc(2026, 2, 28, 0)
W1 = utc(2026, 2, 28, 6)
W2 = utc(2026, 2, 28, 12)
W3 = utc(2026, 2, 28, 18)
DAY = dt.date(2026, 2, 27)
ZEROS = {"heartbeats": 0, "prob_crashes": 0, "smpl": 0, "other": 0}


def counts(statistics, table="version", key=FINGERPRINT):
    row = statistics[table][key]
    return {name: row[name] for name in ZEROS}


def daily(statistics, day, table="version_daily", key=FINGERPRINT):
    return statistics[table][key][day.isoformat()]


def test_heartbeats_count_per_version_and_day(db, hiccup):
    devices = [hiccup.device() for _ in range(3)]
    for device in devices:
        hiccup.heartbeat(device, DAY, utc(2026, 2, 28, 1))
    hiccup.heartbeat(devices[0], DAY - dt.timedelta(days=1), utc(2026, 2, 28, 2))
    hiccup.heartbeat(
        hiccup.device(), DAY, utc(2026, 2, 28, 3), build_fingerprint="beta"
    )

    stats.update(db, W1)

    result = stats.read_statistics(db)
    assert counts(result) == {**ZEROS, "heartbeats": 4}
    assert daily(result, DAY) == {**ZEROS, "heartbeats": 3}
    assert daily(result, DAY - dt.timedelta(days=1)) == {**ZEROS, "heartbeats": 1}
    assert counts(result, key="beta") == {**ZEROS, "heartbeats": 1}
    assert counts(result, "radio_version", RADIO) == {**ZEROS, "heartbeats": 5}


def test_boot_reasons_select_the_crash_counter(db, hiccup):
    reasons = [
        "UNKNOWN",
        "keyboard power on",
        "RTC alarm",
        "Reboot",
        "kernel panic",
        # Not the listed reasons: they differ by case or white space.
        "unknown",
        "RTC alarm ",
        "Keyboard Power On",
    ]
    for minute, reason in enumerate(reasons):
        device = hiccup.device()
        hiccup.crash_report(device, utc(2026, 2, 27, 12, minute), W0, reason)
    stats.reset(db, W0)
    device = hiccup.device()
    hiccup.crash_report(device, utc(2026, 2, 27, 13), utc(2026, 2, 28, 5), "UNKNOWN")

    stats.update(db, W1)

    result = stats.read_statistics(db)
    assert counts(result) == {"heartbeats": 0, "prob_crashes": 3, "smpl": 1, "other": 5}
    assert daily(result, DAY) == {
        "heartbeats": 0,
        "prob_crashes": 3,
        "smpl": 1,
        "other": 5,
    }


def test_reports_with_the_same_timestamp_from_several_devices_all_count(db, hiccup):
    for _ in range(4):
        device = hiccup.device()
        hiccup.crash_report(
            device, utc(2026, 2, 27, 10), utc(2026, 2, 28, 1), "RTC alarm"
        )
        hiccup.heartbeat(device, DAY, utc(2026, 2, 28, 1))

    stats.update(db, W1)

    assert counts(stats.read_statistics(db)) == {**ZEROS, "heartbeats": 4, "smpl": 4}


def test_window_is_open_at_its_start_and_closed_at_its_end(db, hiccup):
    device = hiccup.device()
    hiccup.heartbeat(device, dt.date(2026, 2, 25), W0)
    hiccup.heartbeat(device, dt.date(2026, 2, 26), W0 + dt.timedelta(microseconds=1))
    hiccup.heartbeat(device, dt.date(2026, 2, 27), W1)
    hiccup.heartbeat(device, dt.date(2026, 2, 28), W1 + dt.timedelta(microseconds=1))
    stats.reset(db, W0)

    stats.update(db, W1)

    result = stats.read_statistics(db)
    assert counts(result)["heartbeats"] == 3
    assert sorted(result["version_daily"][FINGERPRINT]) == [
        "2026-02-25",
        "2026-02-26",
        "2026-02-27",
    ]
    stats.update(db, W2)
    assert counts(stats.read_statistics(db))["heartbeats"] == 4


def test_late_report_counts_in_its_window_on_its_own_day(db, hiccup):
    device = hiccup.device()
    hiccup.heartbeat(device, dt.date(2026, 2, 27), utc(2026, 2, 27, 20))
    stats.update(db, W0)
    hiccup.heartbeat(device, dt.date(2026, 1, 3), utc(2026, 2, 28, 4))
    hiccup.crash_report(device, utc(2026, 1, 3, 9), utc(2026, 2, 28, 4), "Reboot")

    stats.update(db, W1)

    result = stats.read_statistics(db)
    assert daily(result, dt.date(2026, 1, 3)) == {**ZEROS, "heartbeats": 1, "other": 1}
    assert daily(result, dt.date(2026, 2, 27)) == {**ZEROS, "heartbeats": 1}


def test_older_report_moves_first_seen_and_released_on(db, hiccup):
    device = hiccup.device()
    hiccup.heartbeat(device, dt.date(2026, 2, 20), utc(2026, 2, 27, 1))
    stats.update(db, W0)
    hiccup.heartbeat(device, dt.date(2026, 2, 10), utc(2026, 2, 28, 1))
    hiccup.heartbeat(device, dt.date(2026, 2, 25), utc(2026, 2, 28, 1))

    stats.update(db, W1)

    version = stats.read_statistics(db)["version"][FINGERPRINT]
    assert (version["first_seen_on"], version["released_on"]) == (
        "2026-02-10",
        "2026-02-10",
    )


def test_newer_report_leaves_first_seen_on(db, hiccup):
    device = hiccup.device()
    hiccup.heartbeat(device, dt.date(2026, 2, 20), utc(2026, 2, 27, 1))
    stats.update(db, W0)
    hiccup.heartbeat(device, dt.date(2026, 2, 27), utc(2026, 2, 28, 1))

    stats.update(db, W1)

    version = stats.read_statistics(db)["version"][FINGERPRINT]
    assert (version["first_seen_on"], version["released_on"]) == (
        "2026-02-20",
        "2026-02-20",
    )


def test_hand_set_released_on_survives_updates(db, hiccup):
    device = hiccup.device()
    hiccup.heartbeat(device, dt.date(2026, 2, 20), utc(2026, 2, 27, 1))
    stats.update(db, W0)
    db.execute(
        "UPDATE crashreport_stats_version SET released_on = '2026-02-22',"
        " is_official_release = true"
    )
    hiccup.heartbeat(device, dt.date(2026, 2, 5), utc(2026, 2, 28, 1))

    stats.update(db, W1)

    version = stats.read_statistics(db)["version"][FINGERPRINT]
    assert version["first_seen_on"] == "2026-02-05"
    assert version["released_on"] == "2026-02-22"
    assert version["is_official_release"] is True
    assert version["heartbeats"] == 2


def test_null_radio_versions_are_skipped_by_the_radio_engine_only(db, hiccup):
    device = hiccup.device()
    hiccup.heartbeat(device, DAY, utc(2026, 2, 28, 1), radio_version=None)
    hiccup.crash_report(
        device, utc(2026, 2, 27, 3), utc(2026, 2, 28, 1), "UNKNOWN", radio_version=None
    )
    hiccup.heartbeat(
        device, DAY + dt.timedelta(days=1), utc(2026, 2, 28, 1), radio_version=""
    )

    stats.update(db, W1)

    result = stats.read_statistics(db)
    assert counts(result) == {**ZEROS, "heartbeats": 2, "prob_crashes": 1}
    assert list(result["radio_version"]) == [""]
    assert counts(result, "radio_version", "") == {**ZEROS, "heartbeats": 1}


@pytest.mark.parametrize(
    ("crashed_at", "day"),
    [
        # Winter, UTC+1.
        (utc(2026, 2, 27, 22, 59), "2026-02-27"),
        (utc(2026, 2, 27, 23, 0), "2026-02-28"),
        # Summer, UTC+2: 23:30 UTC is the next day.
        (utc(2026, 7, 14, 21, 59), "2026-07-14"),
        (utc(2026, 7, 14, 22, 0), "2026-07-15"),
        (utc(2026, 7, 14, 23, 30), "2026-07-15"),
        # 29 March 2026 has 23 hours: 02:00 CET jumps to 03:00 CEST.
        (utc(2026, 3, 28, 23, 0), "2026-03-29"),
        (utc(2026, 3, 29, 21, 59), "2026-03-29"),
        (utc(2026, 3, 29, 22, 0), "2026-03-30"),
        # 25 October 2026 has 25 hours: 03:00 CEST falls back to 02:00 CET.
        (utc(2026, 10, 24, 22, 0), "2026-10-25"),
        (utc(2026, 10, 25, 22, 59), "2026-10-25"),
        (utc(2026, 10, 25, 23, 0), "2026-10-26"),
    ],
)
def test_crash_days_are_amsterdam_days(db, hiccup, crashed_at, day):
    # The session's own time zone must not matter.
    db.execute("SET TIME ZONE 'Pacific/Kiritimati'")
    hiccup.crash_report(hiccup.device(), crashed_at, utc(2026, 11, 1), "UNKNOWN")

    stats.update(db, utc(2026, 11, 1, 6))

    result = stats.read_statistics(db)
    assert list(result["version_daily"][FINGERPRINT]) == [day]
    assert result["version"][FINGERPRINT]["first_seen_on"] == day


def test_time_zone_setting_moves_crash_days(db, hiccup):
    hiccup.crash_report(hiccup.device(), utc(2026, 7, 14, 23, 30), W0, "UNKNOWN")

    stats.update(db, W1, parse_settings({"time_zone": "UTC"}))

    assert list(stats.read_statistics(db)["version_daily"][FINGERPRINT]) == [
        "2026-07-14"
    ]


def test_boot_reason_setting_changes_counters(db, hiccup):
    hiccup.crash_report(hiccup.device(), utc(2026, 2, 27, 9), W0, "kernel panic")
    hiccup.crash_report(hiccup.device(), utc(2026, 2, 27, 9), W0, "UNKNOWN")
    settings = parse_settings(
        {"boot_reasons": {"prob_crashes": ["kernel panic"], "smpl": ["RTC alarm"]}}
    )

    stats.update(db, W1, settings)

    assert counts(stats.read_statistics(db)) == {**ZEROS, "prob_crashes": 1, "other": 1}


def test_duplicate_copies_count_once(db, hiccup):
    hiccup.allow_duplicates()
    device = hiccup.device()
    # Twice in one window, then a third copy in a later window.
    hiccup.heartbeat(device, DAY, utc(2026, 2, 28, 1))
    hiccup.heartbeat(device, DAY, utc(2026, 2, 28, 1))
    hiccup.crash_report(device, utc(2026, 2, 27, 8), utc(2026, 2, 28, 2), "UNKNOWN")
    hiccup.crash_report(device, utc(2026, 2, 27, 8), utc(2026, 2, 28, 3), "RTC alarm")
    stats.update(db, W1)
    hiccup.heartbeat(device, DAY, utc(2026, 2, 28, 7))
    hiccup.crash_report(device, utc(2026, 2, 27, 8), utc(2026, 2, 28, 7), "Reboot")

    stats.update(db, W2)

    expected = {**ZEROS, "heartbeats": 1, "prob_crashes": 1}
    assert counts(stats.read_statistics(db)) == expected
    stats.reset(db, W2)
    assert counts(stats.read_statistics(db)) == expected


def test_duplicate_of_a_report_counted_by_reset_is_not_counted_again(db, hiccup):
    hiccup.allow_duplicates()
    device = hiccup.device()
    hiccup.heartbeat(device, DAY, utc(2026, 2, 27, 23))
    stats.reset(db, W0)
    hiccup.heartbeat(device, DAY, utc(2026, 2, 28, 2), build_fingerprint="other")

    stats.update(db, W1)

    result = stats.read_statistics(db)
    assert counts(result)["heartbeats"] == 1
    assert "other" not in result["version"]


def test_counting_a_window_twice_changes_nothing(db, hiccup):
    device = hiccup.device()
    hiccup.heartbeat(device, DAY, utc(2026, 2, 28, 1))
    hiccup.crash_report(device, utc(2026, 2, 27, 8), utc(2026, 2, 28, 2), "UNKNOWN")
    stats.update(db, W1)
    before = stats.read_statistics(db)

    stats.update(db, W1)
    summary = stats.count_one(db, W1, "version", "prob_crashes")

    assert stats.read_statistics(db) == before
    assert summary[0][2] is None  # counted_from: nothing left to count
    assert before["stats_metadata"]["updated_at"] == ["2026-02-28T06:00:00+00:00"]


def test_windows_in_any_order_give_the_same_statistics(db, hiccup):
    device = hiccup.device()
    hiccup.heartbeat(device, dt.date(2026, 2, 26), utc(2026, 2, 28, 1))
    hiccup.heartbeat(device, dt.date(2026, 2, 27), utc(2026, 2, 28, 7))
    hiccup.heartbeat(device, dt.date(2026, 2, 28), utc(2026, 2, 28, 13))
    stats.reset(db, W0)

    stats.update(db, W3)
    stats.update(db, W1)
    stats.update(db, W2)

    result = stats.read_statistics(db)
    assert counts(result)["heartbeats"] == 3
    # The latest recorded time never moves back.
    assert result["stats_metadata"]["updated_at"] == [
        "2026-02-28T00:00:00+00:00",
        "2026-02-28T18:00:00+00:00",
    ]


def test_a_retried_counter_alone_counts_nothing_twice(db, hiccup):
    device = hiccup.device()
    hiccup.heartbeat(device, DAY, utc(2026, 2, 28, 1))
    stats.count_one(db, W1, "version", "heartbeats")

    stats.count_one(db, W1, "version", "heartbeats")
    stats.update(db, W1)

    result = stats.read_statistics(db)
    assert counts(result)["heartbeats"] == 1
    assert counts(result, "radio_version", RADIO)["heartbeats"] == 1


def test_reset_removes_versions_without_reports(db, hiccup):
    device = hiccup.device()
    hiccup.heartbeat(device, DAY, utc(2026, 2, 27, 20))
    stats.update(db, W0)
    db.execute(
        "INSERT INTO crashreport_stats_version (build_fingerprint, is_official_release,"
        " is_beta_release, first_seen_on, released_on, heartbeats, prob_crashes,"
        " smpl, other) VALUES ('gone', false, false, '2026-01-01', '2026-01-01',"
        " 7, 0, 0, 0)"
    )

    stats.reset(db, W0)

    assert list(stats.read_statistics(db)["version"]) == [FINGERPRINT]


def test_reset_fixes_wrong_counters(db, hiccup):
    device = hiccup.device()
    hiccup.heartbeat(device, DAY, utc(2026, 2, 27, 20))
    stats.update(db, W0)
    db.execute("UPDATE crashreport_stats_version SET heartbeats = 99, smpl = 3")
    db.execute("UPDATE crashreport_stats_versiondaily SET heartbeats = 42")

    stats.reset(db, W0)

    result = stats.read_statistics(db)
    assert counts(result) == {**ZEROS, "heartbeats": 1}
    assert daily(result, DAY) == {**ZEROS, "heartbeats": 1}
    assert result["stats_metadata"]["updated_at"] == ["2026-02-28T00:00:00+00:00"]


def test_reset_then_updates_equals_updates_alone(db, hiccup):
    device, other = hiccup.device(), hiccup.device()
    for hour, day in ((1, 24), (5, 25), (7, 26), (11, 27), (13, 28)):
        hiccup.heartbeat(device, dt.date(2026, 2, day), utc(2026, 2, 28, hour))
        hiccup.crash_report(
            other, utc(2026, 2, day, 23, 30), utc(2026, 2, 28, hour), "RTC alarm"
        )
    for window_end in (W1, W2, W3):
        stats.update(db, window_end)
    updates_alone = stats.read_statistics(db)

    # A reset inside W2's window, then the windows again: W1 changes nothing,
    # W2 counts only what was received after the cut-off.
    stats.reset(db, utc(2026, 2, 28, 9))
    for window_end in (W1, W2, W3):
        stats.update(db, window_end)

    result = stats.read_statistics(db)
    tables = ("version", "version_daily", "radio_version", "radio_version_daily")
    assert {t: result[t] for t in tables} == {t: updates_alone[t] for t in tables}
    assert counts(result) == {**ZEROS, "heartbeats": 5, "smpl": 5}
    assert result["stats_metadata"]["updated_at"] == [
        "2026-02-28T09:00:00+00:00",
        "2026-02-28T12:00:00+00:00",
        "2026-02-28T18:00:00+00:00",
    ]


def test_a_gap_in_the_windows_is_counted_by_the_next_run(db, hiccup):
    device = hiccup.device()
    hiccup.heartbeat(device, dt.date(2026, 2, 26), utc(2026, 2, 28, 3))
    hiccup.heartbeat(device, dt.date(2026, 2, 27), utc(2026, 2, 28, 9))
    stats.reset(db, W0)

    summary = stats.count_one(db, W2, "version", "heartbeats")

    assert summary[0][2:5] == (
        "2026-02-28T00:00:00.000000Z",
        "2026-02-28T12:00:00.000000Z",
        2,
    )


def test_existing_django_statistics_are_continued_not_recounted(db, hiccup):
    device = hiccup.device()
    hiccup.heartbeat(device, DAY, utc(2026, 2, 27, 20))
    stats.reset(db, W0)
    db.execute("DROP TABLE hiccup_stats_progress")
    hiccup.heartbeat(device, DAY + dt.timedelta(days=1), utc(2026, 2, 28, 1))

    stats.update(db, W1)

    assert counts(stats.read_statistics(db))["heartbeats"] == 2
