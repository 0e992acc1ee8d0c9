"""The sample fleet: what it holds, generated on the real PostgreSQL."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest
from hiccup_stats import sample_fleet
from hiccup_stats.sample_fleet import FleetError

END = dt.date(2026, 3, 1)
DEVICES = 200
DAYS = 45
FIRST_DAY = dt.date(2026, 1, 15)
RECEIVED_UNTIL = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
TABLES = (
    "auth_user",
    "crashreports_device",
    "crashreports_heartbeat",
    "crashreports_crashreport",
)


@pytest.fixture
def fleet(db: psycopg.Connection) -> dict[str, int]:
    return sample_fleet.generate(db, devices=DEVICES, days=DAYS, end=END)


def scalar(db: psycopg.Connection, query: str, params: tuple = ()) -> object:
    return db.execute(query, params).fetchone()[0]


def all_rows(db: psycopg.Connection) -> dict[str, list[tuple]]:
    return {
        table: db.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()
        for table in TABLES
    }


def empty(db: psycopg.Connection) -> None:
    db.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY")


def test_period_and_cut_off_of_a_fleet():
    assert sample_fleet.period(END, DAYS) == (FIRST_DAY, dt.date(2026, 2, 28))
    assert sample_fleet.received_until(END) == RECEIVED_UNTIL


def test_a_small_fleet_has_a_heartbeat_on_most_device_days(db, fleet):
    assert fleet == {
        table: scalar(db, f"SELECT count(*) FROM {table}") for table in TABLES
    }
    assert fleet["auth_user"] == fleet["crashreports_device"] == DEVICES
    # Devices skip about 6% of their days; the last day's stragglers are
    # still on their way.
    assert (
        0.90 * DEVICES * DAYS
        <= fleet["crashreports_heartbeat"]
        <= 0.97 * DEVICES * DAYS
    )
    # Crash reports: about 5% of the heartbeats.
    crash_share = fleet["crashreports_crashreport"] / fleet["crashreports_heartbeat"]
    assert 0.035 <= crash_share <= 0.07


def test_a_seed_always_gives_the_same_rows(db, fleet):
    first = all_rows(db)
    empty(db)
    assert sample_fleet.generate(db, devices=DEVICES, days=DAYS, end=END) == fleet
    assert all_rows(db) == first

    empty(db)
    sample_fleet.generate(db, devices=DEVICES, days=DAYS, end=END, seed=-0.7)
    other = all_rows(db)
    assert other["crashreports_heartbeat"] != first["crashreports_heartbeat"]
    assert other["crashreports_device"] != first["crashreports_device"]


def test_devices_are_registered_as_django_does_it(db, fleet):
    rows = db.execute(
        "SELECT account.username, device.uuid, account.password,"
        " account.is_active, device.next_per_heartbeat_key,"
        " device.next_per_crashreport_key"
        " FROM crashreports_device AS device"
        " JOIN auth_user AS account ON account.id = device.user_id"
    ).fetchall()
    assert len(rows) == DEVICES
    for username, uuid, password, is_active, next_heartbeat, next_crash in rows:
        assert username == f"device_{uuid}"
        assert uuid[14] == "4"  # a version 4 UUID
        assert password.startswith("!")  # unusable, as create_user(password=None)
        assert is_active
        assert 1 <= next_crash <= next_heartbeat <= DAYS + 1
    # The next numbers follow the reports the server holds.
    assert not db.execute(
        "SELECT device.id FROM crashreports_device AS device"
        " JOIN crashreports_heartbeat AS report ON report.device_id = device.id"
        " GROUP BY device.id"
        " HAVING max(report.device_local_id) + 1 <> max(device.next_per_heartbeat_key)"
    ).fetchall()
    assert not db.execute(
        "SELECT device.id FROM crashreports_device AS device"
        " LEFT JOIN crashreports_crashreport AS report ON report.device_id = device.id"
        " GROUP BY device.id"
        " HAVING count(report.id) + 1 <> max(device.next_per_crashreport_key)"
    ).fetchall()


def test_every_report_belongs_to_a_device(db, fleet):
    for table in ("crashreports_heartbeat", "crashreports_crashreport"):
        assert (
            scalar(
                db,
                f"SELECT count(*) FROM {table} AS report WHERE NOT EXISTS"
                " (SELECT FROM crashreports_device AS device"
                " WHERE device.id = report.device_id)",
            )
            == 0
        )
    # Most devices crashed at least once, none sent nothing at all.
    assert scalar(
        db, "SELECT count(DISTINCT device_id) FROM crashreports_heartbeat"
    ) == (DEVICES)
    assert scalar(
        db, "SELECT count(DISTINCT device_id) FROM crashreports_crashreport"
    ) >= (DEVICES // 2)


def test_one_report_per_device_and_day(db, fleet):
    assert not db.execute(
        "SELECT device_id, date FROM crashreports_heartbeat"
        " GROUP BY device_id, date HAVING count(*) > 1"
    ).fetchall()
    # At most one crash per device and UTC day, so never two at one instant.
    assert not db.execute(
        "SELECT device_id, (date AT TIME ZONE 'UTC')::date"
        " FROM crashreports_crashreport GROUP BY 1, 2 HAVING count(*) > 1"
    ).fetchall()


def test_nothing_is_received_after_the_end(db, fleet):
    heartbeats = db.execute(
        "SELECT min(date), max(date), min(created_at), max(created_at),"
        " count(*) FILTER (WHERE created_at < date::timestamp AT TIME ZONE 'UTC'"
        "   - interval '1 hour')"
        " FROM crashreports_heartbeat"
    ).fetchone()
    assert heartbeats[:2] == (FIRST_DAY, dt.date(2026, 2, 28))
    # Sent during the device day in Central European Time, never before.
    assert heartbeats[2] >= RECEIVED_UNTIL - dt.timedelta(days=DAYS, hours=1)
    assert heartbeats[3] <= RECEIVED_UNTIL
    assert heartbeats[4] == 0

    crash_reports = db.execute(
        "SELECT min(date), max(date), max(created_at),"
        " count(*) FILTER (WHERE created_at < date)"
        " FROM crashreports_crashreport"
    ).fetchone()
    assert crash_reports[0] >= RECEIVED_UNTIL - dt.timedelta(days=DAYS)
    assert crash_reports[1] < RECEIVED_UNTIL
    assert crash_reports[2] <= RECEIVED_UNTIL
    assert crash_reports[3] == 0


def test_some_reports_arrive_days_to_weeks_late(db, fleet):
    late, share, longest = db.execute(
        "SELECT count(*) FILTER (WHERE late), avg(late::integer), max(delay)"
        " FROM (SELECT created_at - date::timestamp AT TIME ZONE 'UTC' AS delay,"
        "   created_at > date::timestamp AT TIME ZONE 'UTC' + interval '2 days'"
        "   AS late FROM crashreports_heartbeat) AS received"
    ).fetchone()
    assert late > 0
    assert 0.01 <= share <= 0.05
    assert longest >= dt.timedelta(days=14)

    late_crash_reports = scalar(
        db,
        "SELECT count(*) FROM crashreports_crashreport"
        " WHERE created_at > date + interval '1 day'",
    )
    assert late_crash_reports > 0


def test_old_clients_send_no_radio_version(db, fleet):
    share = scalar(
        db, "SELECT avg((radio_version IS NULL)::integer) FROM crashreports_heartbeat"
    )
    assert 0.02 <= share <= 0.09
    app_versions = dict(
        db.execute(
            "SELECT radio_version IS NULL, array_agg(DISTINCT app_version)"
            " FROM crashreports_heartbeat GROUP BY 1"
        ).fetchall()
    )
    assert app_versions[False] == [sample_fleet.Habits().app_version]
    assert set(app_versions[True]) <= set(sample_fleet.Habits().old_app_versions)


def test_radio_versions_are_tied_to_builds(db, fleet):
    catalogue = sample_fleet.catalogue(END, DAYS)
    builds = dict(
        zip(catalogue["fingerprints"], catalogue["radio_versions"], strict=True)
    )
    for table in ("crashreports_heartbeat", "crashreports_crashreport"):
        pairs = db.execute(
            f"SELECT DISTINCT build_fingerprint, radio_version FROM {table}"
            " WHERE radio_version IS NOT NULL"
        ).fetchall()
        assert pairs
        for fingerprint, radio_version in pairs:
            assert builds[fingerprint] == radio_version


def test_devices_move_to_newer_builds_and_a_few_run_a_beta(db, fleet):
    first_day, last_day = sample_fleet.period(END, DAYS)
    builds_on = {
        day: dict(
            db.execute(
                "SELECT build_fingerprint, count(*) FROM crashreports_heartbeat"
                " WHERE date = %s GROUP BY 1",
                (day,),
            ).fetchall()
        )
        for day in (first_day, last_day)
    }
    newest = max(builds_on[last_day], key=builds_on[last_day].get)
    assert newest not in builds_on[first_day]
    assert "Fairphone/FP2/FP2:7.1.2/" in newest
    assert len(builds_on[first_day]) >= 4

    devices_moved = scalar(
        db,
        "SELECT count(*) FROM (SELECT device_id FROM crashreports_heartbeat"
        " GROUP BY device_id HAVING count(DISTINCT build_fingerprint) > 1) AS moved",
    )
    assert devices_moved >= DEVICES // 2

    beta_devices = scalar(
        db,
        "SELECT count(DISTINCT device_id) FROM crashreports_heartbeat"
        " WHERE build_fingerprint LIKE %s",
        ("%-beta/%",),
    )
    assert 1 <= beta_devices <= DEVICES * 0.05


def test_crash_reports_have_real_boot_reasons(db, fleet):
    reasons = dict(
        db.execute(
            "SELECT boot_reason, count(*) FROM crashreports_crashreport GROUP BY 1"
        ).fetchall()
    )
    assert set(reasons) <= {reason.name for reason in sample_fleet.BOOT_REASONS}
    assert {"keyboard power on", "UNKNOWN", "RTC alarm", "Reboot"} <= set(reasons)
    total = sum(reasons.values())
    assert 0.45 <= (reasons["keyboard power on"] + reasons["UNKNOWN"]) / total <= 0.7
    assert 0.12 <= reasons["RTC alarm"] / total <= 0.3


def test_some_crashes_fall_on_another_day_in_amsterdam(db, fleet):
    shifted, total = db.execute(
        "SELECT count(*) FILTER (WHERE (date AT TIME ZONE 'Europe/Amsterdam')::date"
        " <> (date AT TIME ZONE 'UTC')::date), count(*)"
        " FROM crashreports_crashreport"
    ).fetchone()
    # Crashes after 23:00 UTC in winter: about one in 24.
    assert 0.01 <= shifted / total <= 0.1


def test_a_filled_schema_is_refused(db, fleet):
    with pytest.raises(FleetError, match="must be empty"):
        sample_fleet.generate(db, devices=1, days=1, end=END)
    assert scalar(db, "SELECT count(*) FROM crashreports_device") == DEVICES


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"devices": 0, "days": 1}, "devices must be at least 1"),
        ({"devices": 1, "days": 0}, "days between 1 and 99999"),
        ({"devices": 1, "days": 1, "seed": 1.5}, "between -1 and 1"),
    ],
)
def test_arguments_out_of_range_are_refused(db, arguments, message):
    with pytest.raises(FleetError, match=message):
        sample_fleet.generate(db, end=END, **arguments)


def test_an_open_transaction_is_refused(db):
    db.autocommit = False
    db.execute("SELECT 1")
    with pytest.raises(FleetError, match="outside any open transaction"):
        sample_fleet.generate(db, devices=1, days=1, end=END)
    db.rollback()
    db.autocommit = True


def test_a_one_day_fleet(db):
    counts = sample_fleet.generate(db, devices=3, days=1, end=END)
    assert counts["crashreports_device"] == 3
    assert counts["crashreports_heartbeat"] <= 3
    assert scalar(db, "SELECT count(DISTINCT date) FROM crashreports_heartbeat") <= 1


def schema_definitions(db: psycopg.Connection) -> set[tuple]:
    indexes = db.execute(
        "SELECT tablename, indexname, indexdef FROM pg_indexes"
        " WHERE schemaname = 'public'"
    ).fetchall()
    constraints = db.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid),"
        " condeferrable, condeferred FROM pg_constraint"
        " WHERE connamespace = 'public'::regnamespace"
    ).fetchall()
    return set(indexes) | set(constraints)


def test_indexes_and_constraints_are_rebuilt_as_they_were(db):
    before = schema_definitions(db)
    assert ("crashreports_heartbeat", "crashreports_heartbeat_device_id_date_uniq") in {
        definition[:2] for definition in before
    }

    sample_fleet.generate(db, devices=5, days=3, end=END)

    assert schema_definitions(db) == before
