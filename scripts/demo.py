"""Run the Hiccup statistics DAGs on a sample fleet, end to end: ``make demo``.

1. Start (or reuse) an embedded PostgreSQL in ``var/demo/postgres`` and create
   the database ``hiccup_demo`` from scratch.
2. Create the Hiccup tables and generate a sample fleet in them
   (``hiccup_stats.sample_fleet``): a few thousand devices over a few months
   ending 2026-03-01, every report received by then.
3. Set up Airflow from scratch in ``var/demo/airflow`` (SQLite metadata
   database) and run the real DAGs of ``dags/`` with ``dag.test``: the reset up
   to the fleet's last day, 00:00 UTC, then the four update intervals of that
   day. Tasks run without retries, so that a failure shows at once.
4. Print the statistics per build and radio version, straight from the stats
   tables, their totals beside the reports in the database, and the time each
   phase took.

The exit status is 1 when a DAG run fails or the totals differ from the
reports, 0 otherwise. Run ``python scripts/demo.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import shutil
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))

import psycopg  # noqa: E402
from hiccup_stats import embedded, sample_fleet, schema  # noqa: E402
from hiccup_stats.config import COUNTERS, parse_settings  # noqa: E402
from psycopg import sql  # noqa: E402
from psycopg.conninfo import conninfo_to_dict, make_conninfo  # noqa: E402

DATABASE = "hiccup_demo"
END = dt.date(2026, 3, 1)
DEVICES = 5000
DAYS = 120
UPDATES = 4
UPDATE_INTERVAL = dt.timedelta(hours=6)
TOP_RADIO_VERSIONS = 10


class DemoError(RuntimeError):
    """A step of the demo failed; the message says which and why."""


def main(argv: list[str] | None = None) -> int:
    """Run the demo.

    Args:
        argv: Command line arguments; ``sys.argv[1:]`` when not given.

    Returns:
        The exit status: 0 when every DAG run succeeded and the totals match.
    """
    options = parse_arguments(argv)
    workdir = options.workdir.resolve()
    timings: list[tuple[str, float]] = []
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    # dag.test runs Airflow's execution API in process, through a test client.
    warnings.filterwarnings("ignore", message=".*starlette.testclient.*")

    try:
        with phase(timings, "Start PostgreSQL"):
            server = embedded.start(workdir / "postgres", cleanup_mode="stop")

        with phase(timings, f"Create the database {DATABASE}"):
            conninfo = recreate_database(server, DATABASE)

        with phase(timings, "Generate the fleet"):
            with psycopg.connect(conninfo) as connection:
                schema.create_hiccup_schema(connection)
                counts = sample_fleet.generate(
                    connection,
                    devices=options.devices,
                    days=options.days,
                    end=options.end,
                    seed=options.seed,
                )
        first_day, last_day = sample_fleet.period(options.end, options.days)
        print(
            f"    {counts['crashreports_device']:,} devices, "
            f"{counts['crashreports_heartbeat']:,} heartbeats and "
            f"{counts['crashreports_crashreport']:,} crash reports, "
            f"device days {first_day} to {last_day}"
        )

        with phase(timings, "Set up Airflow"):
            airflow_home = workdir / "airflow"
            airflow_env = configure_airflow(airflow_home, conninfo)
            dags = load_dags()

        counted_until = sample_fleet.received_until(options.end)
        reset_up_to = counted_until - dt.timedelta(days=1)
        with phase(timings, f"Reset up to {reset_up_to:%Y-%m-%d %H:%M} UTC"):
            run_dag(dags["hiccup_stats_reset"], {"up_to": reset_up_to.isoformat()})
        for number in range(1, UPDATES + 1):
            window_end = reset_up_to + number * UPDATE_INTERVAL
            with phase(timings, f"Update up to {window_end:%Y-%m-%d %H:%M} UTC"):
                run_dag(dags["hiccup_stats_update"], {}, logical_date=window_end)

        with phase(timings, "Read the statistics"):
            with psycopg.connect(conninfo) as connection:
                summary = read_summary(connection, counted_until)
    except (DemoError, sample_fleet.FleetError) as error:
        print(f"\nThe demo failed: {error}", file=sys.stderr)
        return 1

    matches = print_summary(summary)
    print_timings(timings)
    print_ui_instructions(airflow_home, airflow_env)
    if not matches:
        print(
            "\nThe statistics differ from the reports in the database.",
            file=sys.stderr,
        )
        return 1
    return 0


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    """Return the command line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--devices", type=int, default=DEVICES, help="devices (default %(default)s)"
    )
    parser.add_argument(
        "--days", type=int, default=DAYS, help="device days (default %(default)s)"
    )
    parser.add_argument(
        "--end",
        type=dt.date.fromisoformat,
        default=END,
        help="the day after the fleet's last device day (default %(default)s)",
    )
    parser.add_argument(
        "--seed", type=float, default=0.42, help="seed, -1 to 1 (default %(default)s)"
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=ROOT / "var" / "demo",
        help="where PostgreSQL and Airflow live (default var/demo); keep it short:"
        " the PostgreSQL socket lives there",
    )
    options = parser.parse_args(argv)
    if sample_fleet.received_until(options.end) > dt.datetime.now(dt.UTC):
        parser.error(
            f"--end {options.end} lies in the future: the DAGs count only windows "
            "that have ended."
        )
    return options


@contextlib.contextmanager
def phase(timings: list[tuple[str, float]], name: str) -> Iterator[None]:
    """Announce a phase and record how long it took."""
    print(f"{name} ...", flush=True)
    started = time.monotonic()
    yield
    timings.append((name, time.monotonic() - started))


def recreate_database(server: str, name: str) -> str:
    """Drop and create a database on the server; return its libpq URI."""
    with psycopg.connect(server, autocommit=True) as admin:
        database = sql.Identifier(name)
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(database)
        )
        admin.execute(sql.SQL("CREATE DATABASE {}").format(database))
    return make_conninfo(server, dbname=name)


def configure_airflow(home: Path, conninfo: str) -> dict[str, str]:
    """Set Airflow up from scratch in ``home``; return its environment.

    Airflow reads its configuration when first imported: this runs before any
    import of it.
    """
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    airflow_env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW_CONN_HICCUP_DB": embedded.airflow_uri(
            conninfo_to_dict(conninfo), DATABASE
        ),
    }
    os.environ.update(airflow_env, AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING")

    from airflow.utils import db

    with contextlib.redirect_stdout(sys.stderr):
        db.initdb()
    return airflow_env


def load_dags() -> dict[str, Any]:
    """Parse the dags folder; return its DAGs by id, run without retries.

    Raises:
        DemoError: A DAG file does not import.
    """
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    if bag.import_errors:
        raise DemoError(
            "DAG files do not import: "
            + "; ".join(f"{path}: {error}" for path, error in bag.import_errors.items())
        )
    for dag in bag.dags.values():
        for task in dag.tasks:
            task.retries = 0
    return bag.dags


def run_dag(dag: Any, run_conf: dict[str, Any], **arguments: Any) -> None:
    """Run a DAG with ``dag.test``.

    Args:
        dag: The DAG.
        run_conf: Its full run configuration (params leak between runs of one
            process otherwise).
        **arguments: Passed to ``dag.test``, e.g. ``logical_date``.

    Raises:
        DemoError: The run did not succeed.
    """
    dag_run = dag.test(run_conf=run_conf, **arguments)
    state = str(getattr(dag_run, "state", None))
    interval = ""
    if dag_run.data_interval_start != dag_run.data_interval_end:
        interval = (
            f", interval ({dag_run.data_interval_start:%Y-%m-%d %H:%M}, "
            f"{dag_run.data_interval_end:%Y-%m-%d %H:%M}]"
        )
    print(f"    {dag.dag_id} run {dag_run.run_id}{interval}: {state}")
    if state != "success":
        raise DemoError(
            f"DAG {dag.dag_id} run {dag_run.run_id} ended {state}; its task logs "
            f"are in {os.environ['AIRFLOW_HOME']}/logs."
        )


def read_summary(connection: psycopg.Connection, counted_until: dt.datetime) -> dict:
    """Read the statistics to print from the stats tables.

    Args:
        connection: A connection to the demo's database.
        counted_until: The end of the last window counted.

    Returns:
        ``versions`` and ``radio_versions`` (rows of name, heartbeats,
        probable crashes, SMPL, other, probable crashes per 1000 heartbeats,
        first seen on), ``metadata`` (latest updated_at, rows) and ``totals``
        (``counted`` and ``received``: the four counters).
    """
    settings = parse_settings(None)
    params = {
        "top_radio_versions": TOP_RADIO_VERSIONS,
        "counted_until": counted_until,
        **{
            f"boot_reasons_{counter.name}": settings.boot_reasons_for(counter)
            for counter in COUNTERS
            if counter.boot_reasons
        },
    }
    results = []
    with connection.cursor() as cursor:
        for statement in sample_fleet.read_statements("sample_fleet_summary.sql"):
            cursor.execute(statement, params)
            results.append(cursor.fetchall())
    versions, radio_versions, (metadata,), totals = results
    return {
        "versions": versions,
        "radio_versions": radio_versions,
        "metadata": metadata,
        "totals": {source: tuple(counts) for source, *counts in totals},
    }


def print_summary(summary: dict) -> bool:
    """Print the statistics; return whether the totals match the reports."""
    print_table(
        "Per build fingerprint (crashreport_stats_version), by heartbeats",
        "build fingerprint",
        summary["versions"],
    )
    print_table(
        f"Top {TOP_RADIO_VERSIONS} radio versions "
        "(crashreport_stats_radioversion), by heartbeats",
        "radio version",
        summary["radio_versions"],
    )

    updated_at, rows = summary["metadata"]
    counted_up_to = updated_at.astimezone(dt.UTC)
    print(
        f"\nStats metadata: counted up to {counted_up_to:%Y-%m-%d %H:%M} UTC "
        f"({rows} rows in crashreport_stats_statsmetadata)"
    )
    counted, received = summary["totals"]["counted"], summary["totals"]["received"]
    names = ("heartbeats", "probable crashes", "SMPL", "other")
    print(
        "Totals counted:  "
        + ", ".join(f"{n:,} {name}" for n, name in zip(counted, names, strict=True))
    )
    print(
        "Reports received: "
        + ", ".join(f"{n:,} {name}" for n, name in zip(received, names, strict=True))
        + (" (they match)" if counted == received else " (THEY DIFFER)")
    )
    return counted == received


def print_table(title: str, key_name: str, rows: list[tuple]) -> None:
    """Print rows of statistics under a title, one column per counter."""
    headers = (
        key_name,
        "heartbeats",
        "prob. crashes",
        "SMPL",
        "other",
        "crashes/1000",
        "first seen on",
    )
    cells = [
        (
            key,
            f"{heartbeats:,}",
            f"{prob_crashes:,}",
            f"{smpl:,}",
            f"{other:,}",
            "-" if per_1000 is None else f"{per_1000:.1f}",
            first_seen_on.isoformat(),
        )
        for key, heartbeats, prob_crashes, smpl, other, per_1000, first_seen_on in rows
    ]
    widths = [max(len(row[i]) for row in [headers, *cells]) for i in range(7)]
    print(f"\n{title}")
    for row in [headers, *cells]:
        print(
            "  "
            + row[0].ljust(widths[0])
            + "".join(
                "  " + cell.rjust(width)
                for cell, width in zip(row[1:], widths[1:], strict=True)
            )
        )


def print_timings(timings: list[tuple[str, float]]) -> None:
    """Print how long each phase took."""
    print("\nTimings")
    width = max(len(name) for name, _ in timings)
    for name, seconds in timings:
        print(f"  {name.ljust(width)}  {seconds:6.1f} s")
    print(f"  {'Total'.ljust(width)}  {sum(s for _, s in timings):6.1f} s")


def print_ui_instructions(airflow_home: Path, airflow_env: dict[str, str]) -> None:
    """Say how to look at the runs in the Airflow UI."""
    shown = {
        **airflow_env,
        "AIRFLOW_HOME": str(airflow_home.resolve()),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "PATH": f"{(ROOT / '.venv' / 'bin').resolve()}:$PATH",
    }
    print(
        "\nTo look at the DAGs, their runs and task logs in the Airflow UI "
        "(http://127.0.0.1:8080, user admin, password in\n"
        f"{shown['AIRFLOW_HOME']}/simple_auth_manager_passwords.json.generated):\n"
    )
    print(
        "  "
        + " \\\n  ".join(
            f'{name}="{value}"' if name == "PATH" else f"{name}='{value}'"
            for name, value in shown.items()
        )
        + " \\\n  airflow standalone"
    )
    print(
        "\nThe runs and their logs stay in the UI. The demo's PostgreSQL stops "
        "with this script: new runs need `make demo` again."
    )


def shown_path(path: Path) -> str:
    """Return a path relative to the current folder when inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
