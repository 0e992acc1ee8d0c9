"""Reports whose transaction commits after the window that should count them."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest
from hiccup_stats.config import COUNTERS, ENGINES

from tests import reference, stats
from tests.factory import FINGERPRINT, HiccupFactory, utc

W0 = utc(2026, 2, 28, 0)
W1 = utc(2026, 2, 28, 6)
W2 = utc(2026, 2, 28, 12)
W3 = utc(2026, 2, 28, 18)


@pytest.fixture
def open_transaction(database_conninfo, db):
    """A second Hiccup connection whose inserts stay uncommitted until told."""
    # Indexes are built CONCURRENTLY, which waits for open transactions: build
    # them first, as the first DAG run does on a live database.
    stats.prepare(db)
    with psycopg.connect(database_conninfo) as connection:
        yield HiccupFactory(connection)


def test_report_committed_after_its_window_was_counted_counts_once(
    db, hiccup, open_transaction
):
    device = hiccup.device()
    hiccup.heartbeat(device, dt.date(2026, 2, 26), utc(2026, 2, 28, 1))
    stats.reset(db, W0)
    open_transaction.heartbeat(
        device, dt.date(2026, 2, 27), W1 - dt.timedelta(seconds=1)
    )
    open_transaction.crash_report(
        device, utc(2026, 2, 27, 23, 30), W1, boot_reason="RTC alarm"
    )

    stats.update(db, W1)
    counted_before_commit = stats.read_statistics(db)["version"][FINGERPRINT]
    open_transaction.connection.commit()
    stats.update(db, W2)
    stats.update(db, W2)
    stats.update(db, W3)

    result = stats.read_statistics(db)
    assert counted_before_commit["heartbeats"] == 1
    assert result["version"][FINGERPRINT]["heartbeats"] == 2
    assert result["version"][FINGERPRINT]["smpl"] == 1
    assert result["version_daily"][FINGERPRINT]["2026-02-27"]["heartbeats"] == 1
    assert result["version_daily"][FINGERPRINT]["2026-02-28"]["smpl"] == 1
    assert stats.tables(result) == reference.expected_statistics(db, W3)


def test_late_first_copy_of_a_counted_pair_does_not_count_again(
    db, hiccup, open_transaction
):
    hiccup.allow_duplicates()
    device = hiccup.device()
    stats.reset(db, W0)
    open_transaction.heartbeat(device, dt.date(2026, 2, 27), utc(2026, 2, 28, 5, 59))
    hiccup.heartbeat(device, dt.date(2026, 2, 27), utc(2026, 2, 28, 6, 1))

    stats.update(db, W1)
    stats.update(db, W2)
    open_transaction.connection.commit()
    stats.update(db, W3)

    result = stats.read_statistics(db)
    assert result["version"][FINGERPRINT]["heartbeats"] == 1
    assert result["version_daily"][FINGERPRINT] == {
        "2026-02-27": {"heartbeats": 1, "prob_crashes": 0, "smpl": 0, "other": 0}
    }


def receive_copies_for_two_counters(hiccup, open_transaction, device, crashed, stamped):
    """Receive a crash twice, a copy for smpl and one for prob_crashes.

    The smpl copy is stamped first and its transaction stays open; the
    prob_crashes copy, stamped after it, commits.
    """
    late, committed = stamped
    open_transaction.crash_report(device, crashed, late, boot_reason="RTC alarm")
    hiccup.crash_report(device, crashed, committed, boot_reason="UNKNOWN")


@pytest.mark.parametrize("order", ["as_declared", "reversed"])
def test_late_first_copy_of_a_pair_counted_by_another_counter_does_not_count(
    db, hiccup, open_transaction, order
):
    """Copies whose boot reasons fall in different counters: the pair counts once.

    The copy counted first stays counted, whichever order the next run's
    counter tasks run in (they are siblings: any order can happen).
    """
    hiccup.allow_duplicates()
    device = hiccup.device()
    stats.reset(db, W0)
    stats.update(db, W1)
    receive_copies_for_two_counters(
        hiccup,
        open_transaction,
        device,
        utc(2026, 2, 28, 9),
        stamped=(W2 - dt.timedelta(seconds=1), W2 - dt.timedelta(seconds=0.5)),
    )
    stats.update(db, W2)
    open_transaction.connection.commit()
    folds = [(engine.name, counter.name) for engine in ENGINES for counter in COUNTERS]
    if order == "reversed":
        folds.reverse()
    for engine, counter in folds:
        stats.count_one(db, W3, engine, counter)

    result = stats.read_statistics(db)
    crashes = ("prob_crashes", "smpl", "other")
    for engine in ("version", "radio_version"):
        (counts,) = result[engine].values()
        assert [counts[counter] for counter in crashes] == [1, 0, 0]


def test_a_lagging_counter_meets_the_copy_another_counter_counted(
    db, hiccup, open_transaction
):
    """A counter whose task failed counts later: the pair still counts once.

    Copy B was counted by prob_crashes; the earlier copy A, committed just
    after, falls to smpl, which failed and folds the window on a later run,
    after prob_crashes has folded another window.
    """
    hiccup.allow_duplicates()
    device = hiccup.device()
    stats.reset(db, W0)
    receive_copies_for_two_counters(
        hiccup,
        open_transaction,
        device,
        utc(2026, 2, 28, 5),
        stamped=(W1 - dt.timedelta(minutes=10), W1 - dt.timedelta(minutes=5)),
    )
    for counter in ("heartbeats", "prob_crashes", "other"):
        stats.count_one(db, W1, "version", counter)
    open_transaction.connection.commit()
    for counter in ("heartbeats", "prob_crashes", "other", "smpl"):
        stats.count_one(db, W2, "version", counter)
    stats.update(db, W2)

    (counts,) = stats.read_statistics(db)["version"].values()
    assert [counts[c] for c in ("prob_crashes", "smpl", "other")] == [1, 0, 0]


def test_report_open_across_a_reset_is_counted_by_the_next_update(
    db, hiccup, open_transaction
):
    device = hiccup.device()
    open_transaction.heartbeat(device, dt.date(2026, 2, 27), utc(2026, 2, 27, 23, 30))

    stats.reset(db, W0)
    open_transaction.connection.commit()
    stats.update(db, W1)
    stats.update(db, W2)

    result = stats.read_statistics(db)
    assert result["version"][FINGERPRINT]["heartbeats"] == 1
    assert stats.tables(result) == reference.expected_statistics(db, W2)


def test_an_open_transaction_does_not_block_the_update(db, hiccup, open_transaction):
    device = hiccup.device()
    open_transaction.heartbeat(device, dt.date(2026, 2, 27), utc(2026, 2, 28, 2))
    hiccup.heartbeat(hiccup.device(), dt.date(2026, 2, 27), utc(2026, 2, 28, 3))
    db.execute("SET statement_timeout = '5s'")

    stats.update(db, W1)

    assert stats.read_statistics(db)["version"][FINGERPRINT]["heartbeats"] == 1


def test_a_counted_report_updated_later_is_not_counted_again(db, hiccup):
    # Hiccup updates a crash report when its log file arrives.
    device = hiccup.device()
    report = hiccup.crash_report(
        device, utc(2026, 2, 28, 4), utc(2026, 2, 28, 5), boot_reason="Reboot"
    )
    hiccup.heartbeat(device, dt.date(2026, 2, 27), utc(2026, 2, 28, 5))
    stats.reset(db, W0)
    stats.update(db, W1)

    db.execute(
        "UPDATE crashreports_crashreport SET next_logfile_key = next_logfile_key + 1"
        " WHERE id = %s",
        (report,),
    )
    db.execute("UPDATE crashreports_heartbeat SET uptime = 'up time: 2 days'")
    stats.update(db, W2)
    stats.update(db, W3)

    result = stats.read_statistics(db)
    assert result["version"][FINGERPRINT]["other"] == 1
    assert result["version"][FINGERPRINT]["heartbeats"] == 1
    assert stats.tables(result) == reference.expected_statistics(db, W3)


def test_a_report_updated_while_a_reset_counts_is_counted_once(
    db, hiccup, open_transaction
):
    device = hiccup.device()
    report = hiccup.crash_report(device, utc(2026, 2, 27, 22), utc(2026, 2, 27, 23, 30))
    open_transaction.connection.execute(
        "UPDATE crashreports_crashreport SET next_logfile_key = 2 WHERE id = %s",
        (report,),
    )

    stats.reset(db, W0)
    open_transaction.connection.commit()
    stats.update(db, W1)

    result = stats.read_statistics(db)
    assert result["version"][FINGERPRINT]["prob_crashes"] == 1
    assert stats.tables(result) == reference.expected_statistics(db, W1)
