"""The demo, end to end on a tiny fleet, in a process and a folder of its own.

The demo sets Airflow's environment and the ``hiccup_db`` connection for
itself: it runs as a subprocess, without the test session's Airflow or
database variables, so neither side sees the other's.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from hiccup_stats import embedded
from psycopg.conninfo import make_conninfo

ROOT = Path(__file__).resolve().parents[1]
WINDOW_ENDS = ("06:00", "12:00", "18:00")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    workdir = tmp_path_factory.mktemp("demo")
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AIRFLOW", "HICCUP_"))
    }
    completed = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "demo.py"),
            "--devices=60",
            "--days=12",
            f"--workdir={workdir}",
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return workdir, completed.stdout


@pytest.fixture(scope="module")
def demo_db(demo: tuple[Path, str]) -> psycopg.Connection:
    """Start the demo's PostgreSQL again and connect to its database."""
    workdir, _ = demo
    server = embedded.start(workdir / "postgres", cleanup_mode="stop")
    with psycopg.connect(make_conninfo(server, dbname="hiccup_demo")) as connection:
        yield connection


def test_every_dag_run_succeeds(demo):
    _, output = demo
    assert len(re.findall(r"hiccup_stats_reset run \S+: success", output)) == 1
    intervals = re.findall(
        r"hiccup_stats_update run \S+, interval \((.+?), (.+?)\]: success", output
    )
    assert intervals == [
        ("2026-02-28 00:00", "2026-02-28 06:00"),
        ("2026-02-28 06:00", "2026-02-28 12:00"),
        ("2026-02-28 12:00", "2026-02-28 18:00"),
        ("2026-02-28 18:00", "2026-03-01 00:00"),
    ]
    assert "failed" not in output


def test_the_totals_printed_are_the_reports_in_the_database(demo, demo_db):
    _, output = demo
    counted = re.search(
        r"Totals counted: +([\d,]+) heartbeats, ([\d,]+) probable crashes, "
        r"([\d,]+) SMPL, ([\d,]+) other",
        output,
    )
    received = re.search(r"Reports received: +(.+) \(they match\)", output)
    assert counted and received
    heartbeats, prob_crashes, smpl, other = (
        int(number.replace(",", "")) for number in counted.groups()
    )

    assert (
        heartbeats
        == demo_db.execute("SELECT count(*) FROM crashreports_heartbeat").fetchone()[0]
    )
    assert heartbeats > 0.85 * 60 * 12
    assert (
        prob_crashes + smpl + other
        == demo_db.execute("SELECT count(*) FROM crashreports_crashreport").fetchone()[
            0
        ]
    )
    assert (heartbeats, prob_crashes, smpl, other) == demo_db.execute(
        "SELECT sum(heartbeats), sum(prob_crashes), sum(smpl), sum(other)"
        " FROM crashreport_stats_version"
    ).fetchone()


def test_every_version_is_printed_with_its_counters(demo, demo_db):
    _, output = demo
    versions = demo_db.execute(
        "SELECT build_fingerprint, heartbeats, prob_crashes, first_seen_on"
        " FROM crashreport_stats_version ORDER BY heartbeats DESC, build_fingerprint"
    ).fetchall()
    assert len(versions) >= 5
    printed = [
        line.split() for line in output.splitlines() if line.startswith("  Fairphone/")
    ]
    assert [
        (words[0], int(words[1].replace(",", "")), int(words[2]), words[6])
        for words in printed
    ] == [
        (fingerprint, heartbeats, prob_crashes, first_seen_on.isoformat())
        for fingerprint, heartbeats, prob_crashes, first_seen_on in versions
    ]


def test_the_statistics_are_counted_up_to_the_fleet_end(demo, demo_db):
    _, output = demo
    assert (
        "Stats metadata: counted up to 2026-03-01 00:00 UTC "
        "(5 rows in crashreport_stats_statsmetadata)"
    ) in output
    assert demo_db.execute(
        "SELECT max(updated_at), count(*) FROM crashreport_stats_statsmetadata"
    ).fetchone() == (dt.datetime(2026, 3, 1, tzinfo=dt.UTC), 5)


def test_timings_and_the_way_to_the_ui_are_printed(demo):
    workdir, output = demo
    assert re.search(r"Generate the fleet +\d+\.\d s", output)
    assert re.search(r"Total +\d+\.\d s", output)
    assert f"AIRFLOW_HOME='{workdir / 'airflow'}'" in output
    assert "airflow standalone" in output
    assert (workdir / "airflow" / "airflow.db").exists()
