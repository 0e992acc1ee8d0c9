"""Fleet-scale benchmark of the statistics: ``make bench``.

Sample fleets (``hiccup_stats.sample_fleet``) of about ten thousand, one
million and ten million heartbeats, crash reports about 5% of that, are built
in PostgreSQL, and these figures measured on each:

- ``reset_<size>``: the reset DAG's ``rebuild`` transaction, the statements of
  ``statements.rebuild()`` with the task's parameters in one transaction,
  counting everything the fleet received;
- ``floor_<size>``: the physical floor of that work (``bench/floor.sql``), a
  bare ``GROUP BY`` pass over each report table that writes nothing;
- ``update_<size>``: one six-hour update near the end of the history (the
  update DAG's eight counter transactions and its metadata transaction), after
  a reset up to the start of the window, so that the update counts it;
- ``peak_rss_<size>`` (smallest and largest fleet): the peak resident memory
  of a process that runs a reset and an update the way the tasks do, through
  Airflow's ``PostgresHook``.

On the one million fleet an update DAG run through ``dag.test`` is timed as
well, beside the same statements run directly, to tell Airflow's share of its
wall time from the SQL's.

The fleets share their devices and differ in the length of their history, so
that an update window holds about the same reports at every size: an update
should cost the same on a long history as on a short one, a reset should cost
what reading the history costs. Every time is the median of ``--repetitions``
runs (3 by default). The figures go to ``bench/results.json`` (seconds,
bytes, row counts), a chart of time against history size to
``bench/results.png``, and a table to standard output.

The server is the embedded PostgreSQL in ``bench/data/postgres`` unless
``HICCUP_TEST_POSTGRES_URL`` names one. Its databases ``hiccup_bench_<size>``
are kept and reused while they hold the fleet asked for: building the ten
million fleet takes minutes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))

import psycopg  # noqa: E402
import sqlparse  # noqa: E402
from hiccup_stats import embedded, sample_fleet, schema, statements  # noqa: E402
from hiccup_stats.config import (  # noqa: E402
    CONNECTION_ID,
    COUNTERS,
    ENGINES,
    METADATA_TABLE,
    PROGRESS_TABLE,
    SOURCES,
    parse_settings,
)
from psycopg import sql  # noqa: E402
from psycopg.conninfo import conninfo_to_dict, make_conninfo  # noqa: E402

log = logging.getLogger("bench")

BENCH = Path(__file__).resolve().parent
FLOOR_SQL = BENCH / "floor.sql"


@dataclass(frozen=True)
class Fleet:
    """The size of a sample fleet.

    Attributes:
        devices: Its devices.
        days: The device days of its history.
    """

    devices: int
    days: int


FLEETS = {
    "10k": Fleet(devices=100, days=106),
    "1m": Fleet(devices=10_000, days=106),
    "10m": Fleet(devices=10_000, days=1064),
}
"""The fleets measured, by the name their figures carry, smallest first."""

END = dt.date(2026, 11, 1)
"""The day after every fleet's last device day: reports received by then."""

SEED = 0.42
UPDATE_INTERVAL = dt.timedelta(hours=6)
REPETITIONS = 3
UPDATE_REPETITIONS = 15
"""Updates take tens of milliseconds: more runs steady their median."""
DAG_TEST_FLEET = "1m"
DATABASE_PREFIX = "hiccup_bench"


def cut_off() -> dt.datetime:
    """Return the reset cut-off: everything every fleet received."""
    return sample_fleet.received_until(END)


def update_window() -> tuple[dt.datetime, dt.datetime]:
    """Return the six-hour window updated: the last one of the fleets' last day.

    The fleets' last day still misses the reports on their way at ``END``; the
    window before it is complete, as on a live server.
    """
    window_end = cut_off() - dt.timedelta(days=1)
    return window_end - UPDATE_INTERVAL, window_end


def run(
    server: str,
    data_dir: Path,
    out_dir: Path,
    fleets: Mapping[str, Fleet] = FLEETS,
    repetitions: int = REPETITIONS,
    update_repetitions: int = UPDATE_REPETITIONS,
    database_prefix: str = DATABASE_PREFIX,
) -> dict[str, Any]:
    """Build or reuse the fleets, measure them, write and print the figures.

    Args:
        server: libpq URI of the PostgreSQL server.
        data_dir: Folder for Airflow's home of the DAG run and the task
            processes.
        out_dir: Folder of ``results.json`` and ``results.png``.
        fleets: The fleets, by name, smallest first; ``DAG_TEST_FLEET`` among
            them gets the ``dag.test`` timing.
        repetitions: Runs per reset and floor time; the median is reported.
        update_repetitions: Runs per update time; the median is reported.
        database_prefix: Prefix of the databases, ``<prefix>_<name>``.

    Returns:
        The figures, as written to ``results.json``.
    """
    figures: dict[str, Any] = {
        "repetitions": repetitions,
        "update_repetitions": update_repetitions,
        # The machine's load when the run began: other work disturbs the times.
        "load_average": os.getloadavg()[0],
    }
    names = list(fleets)
    databases = {}
    for name, fleet in fleets.items():
        databases[name], rows = ensure_fleet(server, f"{database_prefix}_{name}", fleet)
        figures.update(
            {
                f"devices_{name}": fleet.devices,
                f"days_{name}": fleet.days,
                f"heartbeats_{name}": rows["crashreports_heartbeat"],
                f"crash_reports_{name}": rows["crashreports_crashreport"],
            }
        )

    for name, conninfo in databases.items():
        for figure, seconds in measure_history(conninfo, repetitions).items():
            figures[f"{figure}_{name}"] = seconds
    for name, seconds in measure_updates(databases, update_repetitions).items():
        figures[f"update_{name}"] = seconds
    for name in (names[0], names[-1]):
        figures[f"peak_rss_{name}"] = task_peak_rss(databases[name], data_dir)
    if DAG_TEST_FLEET in databases:
        figures[f"dag_test_update_{DAG_TEST_FLEET}"] = dag_test_update(
            databases[DAG_TEST_FLEET], data_dir
        )

    figures["ratios"] = ratios(figures, names)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(figures, indent=2) + "\n")
    draw_chart(figures, names, out_dir / "results.png")
    print(table(figures, names))
    return figures


def ensure_fleet(server: str, database: str, fleet: Fleet) -> tuple[str, dict]:
    """Return a database holding a fleet, building it unless it already does.

    The database's comment records the fleet it holds: its size, end, seed and
    a digest of the generator's code. It is written last, so an interrupted
    build is built again.

    Args:
        server: libpq URI of the PostgreSQL server.
        database: The database name.
        fleet: The fleet it must hold.

    Returns:
        Its libpq URI and the row count of each table the fleet filled.
    """
    wanted = fleet_signature(fleet)
    conninfo = make_conninfo(server, dbname=database)
    with psycopg.connect(server, autocommit=True) as admin:
        row = admin.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database"
            " WHERE datname = %s",
            (database,),
        ).fetchone()
        held = json.loads(row[0]) if row and row[0] else None
        if held and held.get("fleet") == wanted:
            log.info("Reusing %s: %s", database, held["rows"])
            return conninfo, held["rows"]

        log.info(
            "Building %s: %s devices over %s days", database, fleet.devices, fleet.days
        )
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(database)
            )
        )
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))

    with psycopg.connect(conninfo) as connection:
        schema.create_hiccup_schema(connection)
        rows = sample_fleet.generate(
            connection, devices=fleet.devices, days=fleet.days, end=END, seed=SEED
        )
        connection.autocommit = True
        # Hint bits and visibility map set now, not by the first timed reading.
        for source in SOURCES:
            connection.execute(
                sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(source.table))
            )
        prepare(connection)

    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(database),
                sql.Literal(json.dumps({"fleet": wanted, "rows": rows})),
            )
        )
    return conninfo, rows


def fleet_signature(fleet: Fleet) -> dict[str, Any]:
    """Return what identifies a fleet: its size, end, seed and generator."""
    generator = hashlib.sha256()
    sql_folder = Path(sample_fleet.__file__).parent / "sql"
    for path in [
        Path(sample_fleet.__file__),
        sql_folder / "hiccup_schema.sql",
        *sorted(sql_folder.glob("sample_fleet_*.sql")),
    ]:
        generator.update(path.read_bytes())
    return {
        "devices": fleet.devices,
        "days": fleet.days,
        "end": END.isoformat(),
        "seed": SEED,
        "generator": generator.hexdigest(),
    }


def prepare(connection: psycopg.Connection) -> None:
    """Do what the DAGs' ``prepare_database`` task does, on an autocommit one."""
    schema.check_schema(connection)
    schema.ensure_indexes(connection)
    connection.autocommit = False
    schema.ensure_progress(connection)
    connection.autocommit = True


def transaction(
    connection: psycopg.Connection, statement_list: list[str], params: dict
) -> None:
    """Run statements in one transaction, fetching every result, as a task does."""
    with connection.transaction():
        for statement in statement_list:
            cursor = connection.execute(statement, params)
            if cursor.description:
                cursor.fetchall()


def reset(connection: psycopg.Connection, up_to: dt.datetime) -> None:
    """Run the reset DAG's ``rebuild`` transaction."""
    params = statements.parameters(parse_settings(None), up_to)
    transaction(connection, statements.rebuild(), params)


def update(connection: psycopg.Connection, window_end: dt.datetime) -> None:
    """Run the update DAG's counter transactions, then its metadata one."""
    params = statements.parameters(parse_settings(None), window_end)
    for engine in ENGINES:
        for counter in COUNTERS:
            transaction(connection, statements.update_counter(engine, counter), params)
    transaction(connection, statements.update_metadata(), params)


def floor(connection: psycopg.Connection) -> None:
    """Run the floor: a bare count per build and day of every report."""
    params = {"time_zone": parse_settings(None).time_zone}
    for statement in sqlparse.split(FLOOR_SQL.read_text()):
        connection.execute(statement.rstrip(";"), params).fetchall()


def seconds(action: Callable[[], None]) -> float:
    """Return the wall time an action takes, in seconds."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def measure_history(conninfo: str, repetitions: int) -> dict[str, float]:
    """Return the median reset and floor times on a fleet.

    Resets and floors alternate, so that a disturbance of the machine weighs
    on both alike. The database is left reset up to ``cut_off()``.

    Args:
        conninfo: libpq URI of the fleet's database.
        repetitions: Runs per figure.

    Returns:
        ``reset`` and ``floor``, in seconds.
    """
    resets, floors = [], []
    with psycopg.connect(conninfo, autocommit=True) as connection:
        # Warm the caches: every figure is a warm one.
        floor(connection)
        reset(connection, cut_off())
        for _ in range(repetitions):
            resets.append(seconds(lambda: reset(connection, cut_off())))
            floors.append(seconds(lambda: floor(connection)))
    log.info("reset %s floor %s", resets, floors)
    return {"reset": statistics.median(resets), "floor": statistics.median(floors)}


def measure_updates(databases: Mapping[str, str], repetitions: int) -> dict[str, float]:
    """Return the median time of one six-hour update on each fleet.

    Each update counts ``update_window()`` after a reset up to its start, on
    statistics tables vacuumed since (``vacuum_statistics``). The fleets take
    turns, so that a disturbance of the machine weighs on all
    alike. The databases are left reset up to ``cut_off()``.

    Args:
        databases: libpq URI of each fleet's database, by fleet name.
        repetitions: Runs per fleet.

    Returns:
        The median update time of each fleet, in seconds, by fleet name.
    """
    window_start, window_end = update_window()
    times: dict[str, list[float]] = {name: [] for name in databases}
    for _ in range(repetitions):
        for name, conninfo in databases.items():
            with psycopg.connect(conninfo, autocommit=True) as connection:
                reset(connection, window_start)
                vacuum_statistics(connection)
                times[name].append(seconds(lambda: update(connection, window_end)))
    for conninfo in databases.values():
        with psycopg.connect(conninfo, autocommit=True) as connection:
            reset(connection, cut_off())
    log.info("updates %s", times)
    return {name: statistics.median(runs) for name, runs in times.items()}


def vacuum_statistics(connection: psycopg.Connection) -> None:
    """Compact and analyse the tables an update writes (autocommit connection).

    A reset deletes and inserts every statistics row in one transaction; on a
    live server autovacuum reclaims the dead rows before the next update. The
    benchmark resets again and again: compacted, the tables stay the size they
    have on a live server instead of growing from run to run.
    """
    tables = [METADATA_TABLE, PROGRESS_TABLE]
    for engine in ENGINES:
        tables += [engine.version_table, engine.daily_table]
    for table in tables:
        connection.execute(
            sql.SQL("VACUUM (FULL, ANALYZE) {}").format(sql.Identifier(table))
        )


def airflow_environment(data_dir: Path, conninfo: str) -> dict[str, str]:
    """Return the environment of a process that runs tasks on a fleet."""
    database = conninfo_to_dict(conninfo)["dbname"]
    return {
        **os.environ,
        "AIRFLOW_HOME": str(data_dir / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "AIRFLOW_CONN_HICCUP_DB": embedded.airflow_uri(
            conninfo_to_dict(conninfo), database
        ),
    }


def child(command: str, conninfo: str, data_dir: Path) -> dict[str, Any]:
    """Run a command of this script in a new process; return its JSON answer."""
    (data_dir / "airflow").mkdir(parents=True, exist_ok=True)
    finished = subprocess.run(
        [sys.executable, __file__, command, "--conninfo", conninfo],
        env=airflow_environment(data_dir, conninfo),
        capture_output=True,
        text=True,
        check=False,
    )
    if finished.returncode != 0:
        raise RuntimeError(
            f"bench {command} failed ({finished.returncode}):\n{finished.stderr}"
        )
    return json.loads(finished.stdout.strip().splitlines()[-1])


def task_peak_rss(conninfo: str, data_dir: Path) -> int:
    """Return the peak RSS, in bytes, of a process that resets and updates."""
    return child("task-memory", conninfo, data_dir)["peak_rss"]


def dag_test_update(conninfo: str, data_dir: Path) -> dict[str, float]:
    """Return the wall time of update DAG runs beside that of their SQL alone."""
    return child("dag-test", conninfo, data_dir)


def task_memory_main(conninfo: str) -> dict[str, Any]:
    """Reset and update through ``PostgresHook`` as the tasks do; report RSS.

    Runs in its own process, set up by ``airflow_environment``.
    """
    from airflow.providers.common.sql.hooks.handlers import fetch_all_handler
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    hook = PostgresHook(postgres_conn_id=CONNECTION_ID)
    window_start, window_end = update_window()

    def task(statement_list: list[str], window: dt.datetime) -> None:
        hook.run(
            statement_list,
            autocommit=False,
            parameters=statements.parameters(parse_settings(None), window),
            handler=fetch_all_handler,
            return_last=False,
        )

    task(statements.rebuild(), window_start)
    for engine in ENGINES:
        for counter in COUNTERS:
            task(statements.update_counter(engine, counter), window_end)
    task(statements.update_metadata(), window_end)
    # Linux reports ru_maxrss in KiB.
    return {"peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def dag_test_main(conninfo: str) -> dict[str, float]:
    """Time update DAG runs through ``dag.test`` and the same SQL run directly.

    Runs in its own process, set up by ``airflow_environment``. The first
    ``dag.test`` of a process also parses and serialises the DAGs; the second
    shows the cost of a run alone. Before each, the statistics are reset to the
    window's start, so that every run counts the window. The same SQL is
    ``prepare_database``'s, the counters', the metadata's and the data-quality
    checks'.
    """
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils import db

    db.initdb()
    dag = DagBag(dag_folder=str(ROOT / "dags")).get_dag("hiccup_stats_update")
    window_start, window_end = update_window()
    walls = []
    with psycopg.connect(conninfo, autocommit=True) as connection:
        for _ in range(2):
            reset(connection, window_start)
            started = time.perf_counter()
            dag_run = dag.test(logical_date=window_end)
            walls.append(time.perf_counter() - started)
            if dag_run.state != "success":
                raise RuntimeError(f"The update DAG run ended {dag_run.state}")
        task_seconds = sum(
            (instance.end_date - instance.start_date).total_seconds()
            for instance in dag_run.get_task_instances()
        )

        reset(connection, window_start)
        started = time.perf_counter()
        prepare(connection)
        update(connection, window_end)
        checks = [statements.check_engine(engine) for engine in ENGINES]
        for check in [*checks, statements.check_metadata()]:
            connection.execute(check, {"window_end": window_end}).fetchall()
        sql_seconds = time.perf_counter() - started
        reset(connection, cut_off())
    return {
        "wall_first_run": walls[0],
        "wall": walls[1],
        "tasks": task_seconds,
        "sql": sql_seconds,
        "airflow": walls[1] - sql_seconds,
    }


def ratios(figures: Mapping[str, Any], names: list[str]) -> dict[str, float]:
    """Return the ratios the targets are set on."""
    result = {
        f"reset_{name}/floor_{name}": figures[f"reset_{name}"]
        / figures[f"floor_{name}"]
        for name in names
    }
    largest, smallest = names[-1], names[0]
    for reference in same_devices(figures, names)[:-1]:
        result[f"update_{largest}/update_{reference}"] = (
            figures[f"update_{largest}"] / figures[f"update_{reference}"]
        )
    result[f"peak_rss_{largest}/peak_rss_{smallest}"] = (
        figures[f"peak_rss_{largest}"] / figures[f"peak_rss_{smallest}"]
    )
    return result


def same_devices(figures: Mapping[str, Any], names: list[str]) -> list[str]:
    """Return the fleets with as many devices as the largest, smallest first.

    Their update windows hold about as many reports: their update times are
    comparable.
    """
    devices = figures[f"devices_{names[-1]}"]
    return [name for name in names if figures[f"devices_{name}"] == devices]


def table(figures: Mapping[str, Any], names: list[str]) -> str:
    """Return the figures as a text table, one column per fleet."""
    lines = [f"{'':28}" + "".join(f"{name:>14}" for name in names)]

    def line(label: str, key: str, unit: Callable[[float], str]) -> None:
        cells = [
            f"{unit(figures[f'{key}_{name}']):>14}"
            if f"{key}_{name}" in figures
            else f"{'':>14}"
            for name in names
        ]
        lines.append(f"{label:28}" + "".join(cells))

    line("heartbeats", "heartbeats", lambda value: f"{value:,}")
    line("crash reports", "crash_reports", lambda value: f"{value:,}")
    line("reset (s)", "reset", lambda value: f"{value:.3f}")
    line("floor (s)", "floor", lambda value: f"{value:.3f}")
    line("update (s)", "update", lambda value: f"{value:.3f}")
    line("peak RSS (MiB)", "peak_rss", lambda value: f"{value / 2**20:.1f}")
    lines.append("")
    for ratio, value in figures["ratios"].items():
        lines.append(f"{ratio:40}{value:8.2f}")
    dag_test = figures.get(f"dag_test_update_{DAG_TEST_FLEET}")
    if dag_test:
        lines.append("")
        lines.append(
            f"update DAG run via dag.test on {DAG_TEST_FLEET}: "
            f"{dag_test['wall']:.2f} s wall ({dag_test['wall_first_run']:.2f} s "
            f"as a process's first run), of which SQL {dag_test['sql']:.2f} s "
            f"and Airflow {dag_test['airflow']:.2f} s"
        )
    lines.append(
        f"(times: median of {figures['repetitions']} runs, updates of "
        f"{figures['update_repetitions']}; load average {figures['load_average']:.1f}"
        " at the start)"
    )
    return "\n".join(lines)


def draw_chart(figures: Mapping[str, Any], names: list[str], path: Path) -> None:
    """Draw time against history size, one line per figure, to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    updated = same_devices(figures, names)
    figure, axes = pyplot.subplots(figsize=(7.5, 4.8))
    for key, label, fleets in (
        ("reset", "reset (rebuild transaction)", names),
        ("floor", "floor (bare GROUP BY of both tables)", names),
        (
            "update",
            f"update of one six-hour window ({figures[f'devices_{names[-1]}']:,}"
            " devices)",
            updated,
        ),
    ):
        axes.plot(
            [figures[f"heartbeats_{name}"] for name in fleets],
            [figures[f"{key}_{name}"] for name in fleets],
            marker="o",
            label=label,
        )
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("heartbeats in the history (plus about 5% as many crash reports)")
    axes.set_ylabel(
        f"seconds, median of {figures['repetitions']} runs"
        f" ({figures['update_repetitions']} for updates)"
    )
    axes.set_title("Hiccup statistics: time against history size")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    pyplot.close(figure)


def start_server(data_dir: Path) -> str:
    """Return the server named by ``HICCUP_TEST_POSTGRES_URL``, or start one."""
    return os.environ.get("HICCUP_TEST_POSTGRES_URL") or embedded.start(
        data_dir / "postgres", cleanup_mode="stop"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, or one of its task processes.

    Args:
        argv: Command line arguments; ``sys.argv[1:]`` when not given.

    Returns:
        The exit status.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "command",
        nargs="?",
        default="run",
        choices=("run", "task-memory", "dag-test"),
        help="run: the whole benchmark (default); the others are its task processes",
    )
    parser.add_argument("--data", type=Path, default=BENCH / "data")
    parser.add_argument("--out", type=Path, default=BENCH)
    parser.add_argument("--repetitions", type=int, default=REPETITIONS)
    parser.add_argument("--update-repetitions", type=int, default=UPDATE_REPETITIONS)
    parser.add_argument("--conninfo", help="the fleet's database (task processes)")
    options = parser.parse_args(argv)

    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    if options.command == "task-memory":
        print(json.dumps(task_memory_main(options.conninfo)))
        return 0
    if options.command == "dag-test":
        print(json.dumps(dag_test_main(options.conninfo)))
        return 0

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    for name in ("bench", "hiccup_stats"):
        logging.getLogger(name).setLevel(logging.INFO)
    server = start_server(options.data.resolve())
    run(
        server,
        options.data.resolve(),
        options.out.resolve(),
        FLEETS,
        options.repetitions,
        options.update_repetitions,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
