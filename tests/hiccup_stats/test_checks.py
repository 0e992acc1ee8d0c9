"""The data-quality checks find each kind of damage and name the rows."""

from __future__ import annotations

import datetime as dt

import pytest
from hiccup_stats import statements
from hiccup_stats.config import ENGINES

from tests import stats
from tests.factory import FINGERPRINT, utc

W0 = utc(2026, 2, 28, 0)
VERSION, RADIO_VERSION = ENGINES


@pytest.fixture
def counted(db, hiccup):
    device = hiccup.device()
    hiccup.heartbeat(device, dt.date(2026, 2, 26), utc(2026, 2, 27, 1))
    hiccup.heartbeat(device, dt.date(2026, 2, 27), utc(2026, 2, 27, 22))
    stats.reset(db, W0)
    return db


def check(db, sql, window_end=W0):
    return db.execute(sql, {"window_end": window_end}).fetchone()


def test_clean_statistics_pass_every_check(counted):
    for engine in ENGINES:
        assert check(counted, statements.check_engine(engine))[:3] == (True, True, True)
    assert check(counted, statements.check_metadata())[:3] == (True, True, True)


def test_all_time_counter_that_differs_from_its_days_is_named(counted):
    counted.execute("UPDATE crashreport_stats_version SET heartbeats = 5")

    verdicts = check(counted, statements.check_engine(VERSION))

    assert verdicts[:3] == (False, True, True)
    assert (
        f"{FINGERPRINT}: all-time (5, 0, 0, 0) <> sum of days (2, 0, 0, 0)"
        in (verdicts[3])
    )
    assert check(counted, statements.check_engine(RADIO_VERSION))[:3] == (
        True,
        True,
        True,
    )


def test_negative_counter_is_named(counted):
    counted.execute(
        "UPDATE crashreport_stats_radioversiondaily SET smpl = -1"
        " WHERE date = '2026-02-26'"
    )
    counted.execute("UPDATE crashreport_stats_radioversion SET smpl = -1")

    verdicts = check(counted, statements.check_engine(RADIO_VERSION))

    assert verdicts[:3] == (True, False, True)
    assert "(2026-02-26) has a negative counter" in verdicts[3]


def test_two_rows_for_one_version_and_day_are_named(counted):
    counted.execute(
        "INSERT INTO crashreport_stats_versiondaily (version_id, date, heartbeats,"
        " prob_crashes, smpl, other) SELECT version_id, date, 0, 0, 0, 0"
        " FROM crashreport_stats_versiondaily WHERE date = '2026-02-27'"
    )

    verdicts = check(counted, statements.check_engine(VERSION))

    assert verdicts[:3] == (True, True, False)
    assert "has 2 rows for 2026-02-27" in verdicts[3]


def test_metadata_that_moves_back_is_named(counted):
    counted.execute(
        "INSERT INTO crashreport_stats_statsmetadata (updated_at)"
        " VALUES ('2026-02-27T18:00:00+00:00')"
    )

    verdicts = check(counted, statements.check_metadata())

    assert verdicts[:3] == (False, True, True)
    assert "after 2026-02-28" in verdicts[3]


def test_metadata_behind_the_window_fails(counted):
    verdicts = check(counted, statements.check_metadata(), utc(2026, 2, 28, 6))

    assert verdicts[:3] == (True, False, True)


def test_counter_behind_the_metadata_is_named(counted):
    counted.execute(
        "UPDATE hiccup_stats_progress SET counted_until = '2026-02-27T00:00:00+00'"
        " WHERE engine = 'radio_version' AND counter = 'smpl'"
    )

    verdicts = check(counted, statements.check_metadata())

    assert verdicts[:3] == (True, True, False)
    assert "radio_version / smpl counted only up to 2026-02-27" in verdicts[3]
