"""Test set-up: Airflow in a scratch home, one PostgreSQL database per session.

The database server is the embedded one (``pgserver``) unless
``HICCUP_TEST_POSTGRES_URL`` names another, e.g.
``postgresql://postgres@127.0.0.1:5432/postgres``. The suite creates its own
database there (``hiccup_stats_test_<pid>``) and drops it at the end.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

# Airflow reads its configuration once, at import: set it up first.
_airflow_home = Path(tempfile.mkdtemp(prefix="hiccup-stats-airflow-"))
atexit.register(shutil.rmtree, _airflow_home, ignore_errors=True)
os.environ.update(
    AIRFLOW_HOME=str(_airflow_home),
    AIRFLOW__CORE__LOAD_EXAMPLES="False",
    AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"),
    AIRFLOW__CORE__PLUGINS_FOLDER=str(ROOT / "plugins"),
    AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING",
)

import psycopg  # noqa: E402
import pytest  # noqa: E402
from hiccup_stats import embedded, schema  # noqa: E402
from psycopg.conninfo import conninfo_to_dict, make_conninfo  # noqa: E402


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Return the libpq URI of the PostgreSQL server the suite runs against."""
    url = os.environ.get("HICCUP_TEST_POSTGRES_URL")
    if url:
        return url
    data_dir = Path(tempfile.mkdtemp(prefix="hiccup-pg-"))
    return embedded.start(data_dir, cleanup_mode="delete")


@pytest.fixture(scope="session")
def database_conninfo(postgres_server: str) -> str:
    """Create the suite's database; point the ``hiccup_db`` connection at it."""
    name = f"hiccup_stats_test_{os.getpid()}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')

    conninfo = make_conninfo(postgres_server, dbname=name)
    os.environ["AIRFLOW_CONN_HICCUP_DB"] = embedded.airflow_uri(
        conninfo_to_dict(conninfo), name
    )
    yield conninfo

    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty_db(database_conninfo: str) -> psycopg.Connection:
    """Return an autocommit connection to a database with an empty public schema."""
    with psycopg.connect(database_conninfo, autocommit=True) as connection:
        connection.execute("DROP SCHEMA IF EXISTS public CASCADE")
        connection.execute("CREATE SCHEMA public")
        yield connection


@pytest.fixture
def db(empty_db: psycopg.Connection) -> psycopg.Connection:
    """Return an autocommit connection to a database with the Hiccup schema."""
    empty_db.autocommit = False
    schema.create_hiccup_schema(empty_db)
    empty_db.autocommit = True
    return empty_db


@pytest.fixture
def hiccup(db: psycopg.Connection):
    """Return the factory of Hiccup rows on ``db``."""
    from tests.factory import HiccupFactory

    return HiccupFactory(db)


@pytest.fixture(scope="session")
def shared_golden() -> Path:
    """Return ``../shared/golden``; skip where it is not beside the checkout."""
    golden = SHARED / "golden"
    if not golden.is_dir():
        pytest.skip(
            f"{golden} is missing: the golden dataset of the original Hiccup "
            "command lives beside the checkout, not in this repository"
        )
    return golden


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Create Airflow's metadata database (SQLite, in the scratch home)."""
    from airflow.utils import db as airflow_db_utils

    airflow_db_utils.initdb()


@pytest.fixture(scope="session")
def dagbag(airflow_db):
    """Return the project's DAGs, parsed from the dags folder."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))
