"""Odd report rows, bad settings and bad cut-offs: counted by the rules or refused.

Odd rows are what old clients and broken device clocks send; they must be
counted like any other report. Bad settings and cut-offs must be refused with
a message that names the setting and says what is expected, and a bad
settings Variable must stop an update run before it writes anything.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from hiccup_stats import schema, statements
from hiccup_stats.config import (
    DEFAULT_SETTINGS,
    ENGINES,
    SettingsError,
    parse_settings,
)
from hiccup_stats.cut_off import EARLIEST_REPORT, CutOffError, parse_up_to

from tests import reference, stats
from tests.factory import FINGERPRINT, utc

W0 = utc(2026, 2, 28, 0)
W1 = utc(2026, 2, 28, 6)
W2 = utc(2026, 2, 28, 12)
ZEROS = {"heartbeats": 0, "prob_crashes": 0, "smpl": 0, "other": 0}


def counts(row):
    return {name: row[name] for name in ZEROS}


def checks_pass(db):
    """Return the verdicts of the DAGs' data-quality checks of both engines."""
    return [
        db.execute(statements.check_engine(engine), {}).fetchone()[:3]
        for engine in ENGINES
    ]


# --- Odd report rows ------------------------------------------------------

ODD_KEYS = [
    "",
    "F" * 200,
    "📱💥" * 100,
    "Фэйрфон/FP3/ФП3:10/Прошивка-8901/user/release-keys",
    "'; DROP TABLE crashreports_heartbeat; --",
    "%(time_zone)s {{ engine.name }} %s",
    " padded ",
]


def test_odd_fingerprints_and_radio_versions_count_as_they_are(db, hiccup):
    for key in ODD_KEYS:
        device = hiccup.device()
        hiccup.heartbeat(device, dt.date(2026, 2, 27), utc(2026, 2, 28, 1), key, key)
        hiccup.crash_report(
            device, utc(2026, 2, 27, 9), utc(2026, 2, 28, 2), "RTC alarm", key, key
        )
    # Not the same as the 200-character one.
    hiccup.heartbeat(
        hiccup.device(), dt.date(2026, 2, 27), utc(2026, 2, 28, 3), "F" * 199, "F"
    )

    stats.update(db, W1)

    result = stats.read_statistics(db)
    assert sorted(result["version"]) == sorted([*ODD_KEYS, "F" * 199])
    assert sorted(result["radio_version"]) == sorted([*ODD_KEYS, "F"])
    for key in ODD_KEYS:
        for table in ("version", "radio_version"):
            assert counts(result[table][key]) == {**ZEROS, "heartbeats": 1, "smpl": 1}
            assert result[f"{table}_daily"][key] == {
                "2026-02-27": {**ZEROS, "heartbeats": 1, "smpl": 1}
            }
    assert counts(result["version"]["F" * 199]) == {**ZEROS, "heartbeats": 1}
    assert stats.tables(result) == reference.expected_statistics(db, W1)
    assert checks_pass(db) == [(True, True, True)] * 2

    stats.reset(db, W1)
    assert stats.tables(stats.read_statistics(db)) == stats.tables(result)


LOOK_ALIKE_BOOT_REASONS = [
    "unknown",
    "Unknown",
    " UNKNOWN",
    "UNKNOWN ",
    "UNKNOWN\t",
    "UNKNOWN\n",
    "\u00a0UNKNOWN",
    "UNKNOWN\u200b",
    "keyboard  power on",
    "Keyboard Power On",
    " keyboard power on ",
    "rtc alarm",
    "RTC Alarm",
    " RTC alarm",
    "RTC alarm\r\n",
    "ＲＴＣ alarm",
    "RTC_alarm",
    "",
]


@pytest.mark.parametrize("run", ["update", "reset"])
def test_boot_reasons_that_only_look_listed_count_as_other(db, hiccup, run):
    reasons = ["UNKNOWN", "keyboard power on", "RTC alarm", *LOOK_ALIKE_BOOT_REASONS]
    for minute, reason in enumerate(reasons):
        hiccup.crash_report(
            hiccup.device(), utc(2026, 2, 27, 10, minute), utc(2026, 2, 28, 1), reason
        )

    if run == "update":
        stats.update(db, W1)
    else:
        stats.reset(db, W1)

    result = stats.read_statistics(db)
    expected = {**ZEROS, "prob_crashes": 2, "smpl": 1, "other": 18}
    assert [counts(row) for row in result["version"].values()] == [expected]
    assert [counts(row) for row in result["radio_version"].values()] == [expected]
    assert stats.tables(result) == reference.expected_statistics(db, W1)


def test_device_dates_from_1970_to_the_far_future_count_on_their_days(db, hiccup):
    device = hiccup.device()
    received = utc(2026, 2, 28, 1)
    for day in (dt.date(1970, 1, 1), dt.date(2100, 1, 1), dt.date(9999, 12, 31)):
        hiccup.heartbeat(device, day, received)
    crashes = [
        # Amsterdam had no summer time in 1970: UTC+1 all year.
        (utc(1969, 12, 31, 23, 30), "UNKNOWN"),
        (utc(1970, 6, 30, 22, 30), "UNKNOWN"),
        # Summer time rules are projected to 2100: UTC+2 in July.
        (utc(2100, 7, 1, 22, 30), "RTC alarm"),
        (utc(2100, 12, 31, 23, 30), "Reboot"),
        (utc(9999, 12, 31, 12), "Reboot"),
    ]
    for crashed_at, reason in crashes:
        hiccup.crash_report(device, crashed_at, received, reason)

    stats.update(db, W1)

    result = stats.read_statistics(db)
    (key,) = result["version"]
    assert result["version_daily"][key] == {
        "1970-01-01": {**ZEROS, "heartbeats": 1, "prob_crashes": 1},
        "1970-06-30": {**ZEROS, "prob_crashes": 1},
        "2100-01-01": {**ZEROS, "heartbeats": 1},
        "2100-07-02": {**ZEROS, "smpl": 1},
        "2101-01-01": {**ZEROS, "other": 1},
        "9999-12-31": {**ZEROS, "heartbeats": 1, "other": 1},
    }
    assert result["version"][key]["first_seen_on"] == "1970-01-01"
    assert result["version"][key]["released_on"] == "1970-01-01"
    assert stats.tables(result) == reference.expected_statistics(db, W1)

    stats.reset(db, W1)
    assert stats.tables(stats.read_statistics(db)) == stats.tables(result)


def test_a_report_received_years_after_its_date_moves_first_seen_back(db, hiccup):
    device = hiccup.device()
    hiccup.heartbeat(device, dt.date(2026, 2, 27), utc(2026, 2, 28, 1))
    stats.update(db, W1)
    hiccup.heartbeat(device, dt.date(2019, 3, 1), utc(2026, 2, 28, 7))
    # 23:30 UTC on 1 March 2019 is 00:30 on 2 March in Amsterdam (UTC+1).
    hiccup.crash_report(device, utc(2019, 3, 1, 23, 30), utc(2026, 2, 28, 8))

    stats.update(db, W2)

    result = stats.read_statistics(db)
    (key,) = result["version"]
    assert counts(result["version"][key]) == {
        **ZEROS,
        "heartbeats": 2,
        "prob_crashes": 1,
    }
    assert result["version_daily"][key] == {
        "2019-03-01": {**ZEROS, "heartbeats": 1},
        "2019-03-02": {**ZEROS, "prob_crashes": 1},
        "2026-02-27": {**ZEROS, "heartbeats": 1},
    }
    assert (
        result["version"][key]["first_seen_on"],
        result["version"][key]["released_on"],
    ) == ("2019-03-01", "2019-03-01")
    assert stats.tables(result) == reference.expected_statistics(db, W2)


# --- Settings ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message_parts"),
    [
        (
            {"time_zone": "Mars/Olympus_Mons"},
            ["'time_zone'", "unknown time zone 'Mars/Olympus_Mons'", "IANA name"],
        ),
        ({"time_zone": "../../../etc/passwd"}, ["'time_zone'", "unknown time zone"]),
        ({"time_zone": ""}, ["'time_zone'", "IANA time zone name", "got ''"]),
        ({"time_zone": 1}, ["'time_zone'", "IANA time zone name", "got 1"]),
        ({"time_zone": None}, ["'time_zone'", "got None"]),
        (
            {"boot_reasons": {"smpl": []}},
            ["'boot_reasons.smpl'", "non-empty list of non-empty strings", "got []"],
        ),
        (
            {"boot_reasons": {"prob_crashes": [""]}},
            ["'boot_reasons.prob_crashes'", "non-empty strings", "got ['']"],
        ),
        (
            {"boot_reasons": {"smpl": "RTC alarm"}},
            ["'boot_reasons.smpl'", "list", "got 'RTC alarm'"],
        ),
        ({"boot_reasons": {"smpl": [7]}}, ["'boot_reasons.smpl'", "got [7]"]),
        (
            {"boot_reasons": {"prob_crashes": ["UNKNOWN", "RTC alarm"]}},
            ["'RTC alarm'", "'prob_crashes'", "'smpl'", "one counter only"],
        ),
        (
            {"boot_reasons": {"other": ["Reboot"]}},
            ["'boot_reasons'", "exactly the counters", "'prob_crashes'", "'other'"],
        ),
        (
            "{time_zone: 'UTC'}",
            ["'hiccup_stats_settings'", "not valid JSON", '{"time_zone":'],
        ),
        ("", ["'hiccup_stats_settings'", "not valid JSON"]),
        ("[]", ["'hiccup_stats_settings'", "must be a JSON object", "not list"]),
        ('"UTC"', ["'hiccup_stats_settings'", "must be a JSON object", "not str"]),
        (
            {"timezone": "UTC"},
            ["Unknown key(s) ['timezone']", "'hiccup_stats_settings'", "'time_zone'"],
        ),
        (
            '{"time_zone": "UTC", "boot_reason": {}}',
            ["Unknown key(s) ['boot_reason']", "'boot_reasons'"],
        ),
        (
            {"late_commit_lookback_hours": "24"},
            ["'late_commit_lookback_hours'", "from 0 to 744", "got '24'"],
        ),
        (
            {"late_commit_lookback_hours": True},
            ["'late_commit_lookback_hours'", "got True"],
        ),
        (
            {"late_commit_lookback_hours": -1},
            ["'late_commit_lookback_hours'", "got -1"],
        ),
        (
            {"late_commit_lookback_hours": 745},
            ["'late_commit_lookback_hours'", "got 745"],
        ),
        (
            '{"late_commit_lookback_hours": NaN}',
            ["'late_commit_lookback_hours'", "got nan"],
        ),
    ],
)
def test_bad_settings_are_refused_naming_the_setting(raw, message_parts):
    with pytest.raises(SettingsError) as refused:
        parse_settings(raw)

    for part in message_parts:
        assert part in str(refused.value)


@pytest.mark.parametrize("boot_reasons", [["UNKNOWN"], "UNKNOWN", None])
def test_boot_reasons_that_are_not_an_object_are_refused(boot_reasons):
    with pytest.raises(SettingsError, match="'boot_reasons'"):
        parse_settings({"boot_reasons": boot_reasons})


def test_settings_edges_that_are_accepted():
    assert parse_settings(None) == parse_settings("{}") == parse_settings({})
    assert parse_settings(None).time_zone == DEFAULT_SETTINGS["time_zone"]

    settings = parse_settings(
        '{"time_zone": "UTC", "boot_reasons": {"smpl": ["RTC alarm", "Alarm"]},'
        ' "late_commit_lookback_hours": 0}'
    )

    assert settings.time_zone == "UTC"
    assert settings.boot_reasons == {
        "prob_crashes": ("UNKNOWN", "keyboard power on"),
        "smpl": ("RTC alarm", "Alarm"),
    }
    assert settings.late_commit_lookback_hours == 0
    assert (
        parse_settings({"late_commit_lookback_hours": 744}).late_commit_lookback_hours
        == 744
    )


# --- Reset cut-off ----------------------------------------------------------

NOW = utc(2026, 3, 1, 9, 30)
EXPECTED_FORMAT = "expected an ISO 8601 timestamp with a UTC offset"


@pytest.mark.parametrize(
    ("up_to", "message_parts"),
    [
        ("yesterday", ["up_to='yesterday'", "is not a timestamp", EXPECTED_FORMAT]),
        ("2026-02-30T00:00:00+00:00", ["is not a timestamp", EXPECTED_FORMAT]),
        ("2026-02-28T25:00:00+00:00", ["is not a timestamp"]),
        ("infinity", ["up_to='infinity'", "is not a timestamp"]),
        (
            "2026-02-28T00:00:00+00:00'; DROP TABLE crashreports_heartbeat; --",
            ["is not a timestamp", EXPECTED_FORMAT],
        ),
        (
            "2026-02-28T00:00:00",
            ["up_to='2026-02-28T00:00:00'", "has no UTC offset", EXPECTED_FORMAT],
        ),
        ("2026-02-28", ["has no UTC offset"]),
        (20260228, ["up_to=20260228", "is not a string", EXPECTED_FORMAT]),
        ("2026-03-01T09:30:00.000001+00:00", ["lies in the future", "now is"]),
        ("2026-03-01T10:30:00+00:30", ["lies in the future"]),
        ("2999-01-01T00:00:00+00:00", ["lies in the future"]),
        (
            "2009-12-31T23:59:59.999999+00:00",
            ["lies before 2010-01-01T00:00:00+00:00", "empty the statistics"],
        ),
        ("1970-01-01T00:00:00+00:00", ["lies before 2010-01-01"]),
        ("9999-12-31T23:59:59-23:59", ["lies beyond the year 9999", EXPECTED_FORMAT]),
        ("0001-01-01T00:00:00+23:59", ["before the year 1", EXPECTED_FORMAT]),
    ],
)
def test_bad_cut_offs_are_refused_saying_what_is_expected(up_to, message_parts):
    with pytest.raises(CutOffError) as refused:
        parse_up_to(up_to, now=NOW)

    for part in message_parts:
        assert part in str(refused.value)


@pytest.mark.parametrize(
    ("up_to", "cut_off"),
    [
        ("2026-02-28T02:00:00+02:00", utc(2026, 2, 28, 0)),
        ("2026-02-28T00:00:00Z", utc(2026, 2, 28, 0)),
        ("  2026-02-28T00:00:00+00:00\n", utc(2026, 2, 28, 0)),
        ("2026-02-28T07:13:14.5+00:00", utc(2026, 2, 28, 7, 13, 14, 500_000)),
        ("2026-03-01T09:30:00+00:00", NOW),
        ("2026-03-01T10:30:00+01:00", NOW),
        ("2010-01-01T00:00:00+00:00", EARLIEST_REPORT),
    ],
)
def test_cut_offs_are_taken_as_given_in_utc(up_to, cut_off):
    result = parse_up_to(up_to, now=NOW)

    assert result == cut_off
    assert result.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize(
    ("now", "boundary"),
    [
        (utc(2026, 3, 1, 6), utc(2026, 3, 1, 6)),
        (utc(2026, 3, 1, 5, 59, 59, 999_999), utc(2026, 3, 1, 0)),
        (utc(2026, 3, 1, 0), utc(2026, 3, 1, 0)),
        (utc(2026, 3, 1, 12, 0, 0, 1), utc(2026, 3, 1, 12)),
        (utc(2026, 3, 1, 23, 59, 59, 999_999), utc(2026, 3, 1, 18)),
        (utc(2026, 3, 1, 18), utc(2026, 3, 1, 18)),
        # 01:00 in Amsterdam summer time is 23:00 UTC the day before.
        (
            dt.datetime(2026, 7, 1, 1, tzinfo=zoneinfo.ZoneInfo("Europe/Amsterdam")),
            utc(2026, 6, 30, 18),
        ),
        (
            dt.datetime(2026, 3, 1, 6, tzinfo=dt.timezone(dt.timedelta(hours=5))),
            utc(2026, 3, 1, 0),
        ),
    ],
)
@pytest.mark.parametrize("up_to", [None, "", "   "])
def test_no_cut_off_means_the_latest_boundary_not_after_now(now, boundary, up_to):
    result = parse_up_to(up_to, now=now)

    assert result == boundary
    assert result.utcoffset() == dt.timedelta(0)


# --- A bad settings Variable in an update run ---------------------------------


@pytest.fixture
def counted_up_to_w0(db, hiccup):
    """Statistics reset at W0, and reports received after it still to count."""
    device = hiccup.device()
    hiccup.heartbeat(device, dt.date(2026, 2, 27), utc(2026, 2, 27, 20))
    stats.reset(db, W0)
    hiccup.heartbeat(device, dt.date(2026, 2, 28), utc(2026, 2, 28, 1))
    hiccup.crash_report(device, utc(2026, 2, 28, 0, 30), utc(2026, 2, 28, 2))
    return db


def task_states(run):
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


@pytest.mark.parametrize(
    "variable",
    [
        '{"time_zone": "Mars/Olympus_Mons"}',
        "{time_zone: Europe/Amsterdam}",
        '{"boot_reasons": {"prob_crashes": ["UNKNOWN", "RTC alarm"]}}',
    ],
)
def test_a_bad_settings_variable_fails_the_update_before_writing(
    counted_up_to_w0, dagbag, monkeypatch, variable
):
    db = counted_up_to_w0
    before = (stats.read_statistics(db), stats.read_progress(db))
    monkeypatch.setenv("AIRFLOW_VAR_HICCUP_STATS_SETTINGS", variable)

    run = dagbag.get_dag("hiccup_stats_update").test(logical_date=W1)

    assert run.state == "failed"
    states = task_states(run)
    assert states.pop("prepare_database") == "failed"
    assert set(states.values()) == {"upstream_failed"}
    assert len(states) == 12
    assert (stats.read_statistics(db), stats.read_progress(db)) == before
    assert before[0]["stats_metadata"]["updated_at"] == ["2026-02-28T00:00:00+00:00"]


def zone_only_python_knows(db):
    """Return a zone name Python's zoneinfo accepts and PostgreSQL does not."""
    for zone in ("posixrules", "posix/Europe/Amsterdam", "right/UTC", "localtime"):
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            continue
        (known,) = db.execute(
            "SELECT EXISTS (SELECT FROM pg_timezone_names WHERE name = %s)", (zone,)
        ).fetchone()
        if not known:
            return zone
    pytest.skip("every zone name this system's Python knows, PostgreSQL knows too")


def test_a_time_zone_postgresql_does_not_know_fails_the_update_before_writing(
    counted_up_to_w0, dagbag, monkeypatch
):
    db = counted_up_to_w0
    zone = zone_only_python_knows(db)
    dag = dagbag.get_dag("hiccup_stats_update")
    for task in dag.tasks:
        # A failure that a retry cannot mend: do not wait for retries.
        monkeypatch.setattr(task, "retries", 0)
    before = (stats.read_statistics(db), stats.read_progress(db))
    monkeypatch.setenv(
        "AIRFLOW_VAR_HICCUP_STATS_SETTINGS", f'{{"time_zone": "{zone}"}}'
    )

    run = dag.test(logical_date=W1)

    states = task_states(run)
    assert run.state == "failed"
    assert states.pop("prepare_database") == "failed"
    assert set(states.values()) == {"upstream_failed"}
    assert (stats.read_statistics(db), stats.read_progress(db)) == before


@pytest.fixture
def django_statistics_with_a_day_twice(db, hiccup):
    """Statistics the Django command left, one day of them in two rows."""
    device = hiccup.device()
    hiccup.heartbeat(device, dt.date(2026, 2, 27), utc(2026, 2, 27, 20))
    hiccup.heartbeat(device, dt.date(2026, 2, 28), utc(2026, 2, 28, 1))
    ((version_id,),) = db.execute(
        "INSERT INTO crashreport_stats_version (build_fingerprint,"
        " is_official_release, is_beta_release, first_seen_on, released_on,"
        " heartbeats, prob_crashes, smpl, other)"
        " VALUES (%s, false, false, '2026-02-27', '2026-02-27', 5, 0, 0, 0)"
        " RETURNING id",
        (FINGERPRINT,),
    ).fetchall()
    db.execute(
        "INSERT INTO crashreport_stats_versiondaily"
        " (version_id, date, heartbeats, prob_crashes, smpl, other)"
        " VALUES (%s, '2026-02-27', 2, 0, 0, 0), (%s, '2026-02-27', 3, 0, 0, 0)",
        (version_id, version_id),
    )
    db.execute(
        "INSERT INTO crashreport_stats_statsmetadata (updated_at) VALUES (%s)", (W0,)
    )
    return db


def legacy_rows(db):
    """Return the statistics rows as stored, duplicated days included."""
    return [
        db.execute(query).fetchall()
        for query in (
            "SELECT build_fingerprint, heartbeats FROM crashreport_stats_version",
            "SELECT date::text, heartbeats FROM crashreport_stats_versiondaily"
            " ORDER BY id",
            "SELECT updated_at FROM crashreport_stats_statsmetadata",
        )
    ]


@pytest.mark.parametrize("counted_before", [False, True])
def test_an_update_refuses_days_held_twice_before_writing(
    django_statistics_with_a_day_twice, dagbag, counted_before
):
    """Before the first update, or after a reset that failed once prepared."""
    db = django_statistics_with_a_day_twice
    if counted_before:
        stats.prepare(db)
    before = legacy_rows(db)

    run = dagbag.get_dag("hiccup_stats_update").test(logical_date=W1)

    states = task_states(run)
    assert run.state == "failed"
    assert states.pop("prepare_database") == "failed"
    assert set(states.values()) == {"upstream_failed"}
    assert legacy_rows(db) == before
    assert before[1] == [("2026-02-27", 2), ("2026-02-27", 3)]
    with pytest.raises(schema.DuplicateDaysError) as refused:
        schema.check_one_row_per_day(db)
    message = str(refused.value)
    assert "crashreport_stats_versiondaily holds 1 (version, day) pairs" in message
    assert "on 2026-02-27" in message
    assert "Trigger hiccup_stats_reset once" in message
    assert "radioversiondaily" not in message


def test_a_reset_mends_days_held_twice_and_updates_continue(
    django_statistics_with_a_day_twice, dagbag
):
    db = django_statistics_with_a_day_twice

    reset = dagbag.get_dag("hiccup_stats_reset").test(
        run_conf={"up_to": W0.isoformat()}
    )
    update = dagbag.get_dag("hiccup_stats_update").test(logical_date=W1)

    assert (reset.state, update.state) == ("success", "success")
    result = stats.read_statistics(db)
    assert result["version"][FINGERPRINT]["heartbeats"] == 2
    assert result["version_daily"][FINGERPRINT] == {
        "2026-02-27": {**ZEROS, "heartbeats": 1},
        "2026-02-28": {**ZEROS, "heartbeats": 1},
    }
