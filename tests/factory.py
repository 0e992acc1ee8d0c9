"""Factory of Hiccup rows (devices, heartbeats, crash reports) for the tests."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid

import psycopg

FINGERPRINT = "Fairphone/FP2/FP2:7.1.2/25.11.1/gms-c40ab458:user/release-keys"
RADIO = "4437.1-FP2-0-11"


def utc(*args: int) -> dt.datetime:
    """Return an aware UTC timestamp: ``utc(2026, 2, 28, 6)``."""
    return dt.datetime(*args, tzinfo=dt.UTC)


class HiccupFactory:
    """Insert Hiccup rows the way the Django application stores them.

    Args:
        connection: An autocommit connection to a database with the Hiccup
            schema.
    """

    def __init__(self, connection: psycopg.Connection) -> None:
        self.connection = connection
        self._local_ids = itertools.count(1)

    def device(self) -> int:
        """Insert a device (and its user); return its id."""
        device_uuid = str(uuid.uuid4())
        (user_id,) = self.connection.execute(
            "INSERT INTO auth_user (password, is_superuser, username, first_name,"
            " last_name, email, is_staff, is_active, date_joined)"
            " VALUES ('!', false, %s, '', '', '', false, true, now()) RETURNING id",
            (f"device_{device_uuid}",),
        ).fetchone()
        (device_id,) = self.connection.execute(
            "INSERT INTO crashreports_device (uuid, next_per_crashreport_key,"
            " next_per_heartbeat_key, user_id) VALUES (%s, 1, 1, %s) RETURNING id",
            (device_uuid, user_id),
        ).fetchone()
        return device_id

    def heartbeat(
        self,
        device: int,
        date: dt.date,
        created_at: dt.datetime,
        build_fingerprint: str = FINGERPRINT,
        radio_version: str | None = RADIO,
    ) -> int:
        """Insert a heartbeat; return its id."""
        (heartbeat_id,) = self.connection.execute(
            "INSERT INTO crashreports_heartbeat (app_version, uptime,"
            " build_fingerprint, radio_version, date, device_local_id, created_at,"
            " device_id) VALUES (20004, 'up time: 1 days', %s, %s, %s, %s, %s, %s)"
            " RETURNING id",
            (
                build_fingerprint,
                radio_version,
                date,
                next(self._local_ids),
                created_at,
                device,
            ),
        ).fetchone()
        return heartbeat_id

    def crash_report(
        self,
        device: int,
        date: dt.datetime,
        created_at: dt.datetime,
        boot_reason: str = "UNKNOWN",
        build_fingerprint: str = FINGERPRINT,
        radio_version: str | None = RADIO,
    ) -> int:
        """Insert a crash report; return its id."""
        (report_id,) = self.connection.execute(
            "INSERT INTO crashreports_crashreport (is_fake_report, app_version,"
            " uptime, build_fingerprint, radio_version, boot_reason, power_on_reason,"
            " power_off_reason, date, device_local_id, next_logfile_key, created_at,"
            " device_id) VALUES (false, 20004, 'up time: 1 days', %s, %s, %s,"
            " 'Triggered from KPD', 'Triggered from UVLO', %s, %s, 1, %s, %s)"
            " RETURNING id",
            (
                build_fingerprint,
                radio_version,
                boot_reason,
                date,
                next(self._local_ids),
                created_at,
                device,
            ),
        ).fetchone()
        return report_id

    def allow_duplicates(self) -> None:
        """Drop the unique (device_id, date) constraints, as in old databases."""
        for table in ("crashreports_heartbeat", "crashreports_crashreport"):
            self.connection.execute(
                f"ALTER TABLE {table} DROP CONSTRAINT {table}_device_id_date_uniq"
            )
