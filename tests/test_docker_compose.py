"""The docker-compose deployment: what it wires together, and that Compose takes it.

The structure tests read the file with PyYAML. The Compose tests run the
``docker-compose`` binary (``apt-get install docker-compose`` on Debian), which
validates the file against the Compose schema without a Docker engine.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from hiccup_stats.config import parse_settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"

DUMMY_URI = "postgresql://hiccup_stats:secret@hiccup-db.invalid:5432/hiccup"
MISSING_URI_MESSAGE = (
    "set AIRFLOW_CONN_HICCUP_DB to the Hiccup database URI, "
    "e.g. postgresql://user:password@host:5432/hiccup"
)

AIRFLOW_SERVICES = (
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
)
LONG_RUNNING_SERVICES = AIRFLOW_SERVICES[1:]
TASK_SERVICES = ("airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")
SECRETS = "/opt/airflow/secrets"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


def airflow_pin() -> str:
    text = (ROOT / "requirements.txt").read_text()
    return re.search(r"^apache-airflow==(\S+)$", text, re.MULTILINE).group(1)


def volume_targets(service: dict) -> dict[str, str]:
    """Map each mount target of a service to ``source[:mode]``."""
    targets = {}
    for volume in service["volumes"]:
        source, target, *mode = volume.split(":")
        targets[target] = ":".join([source, *mode])
    return targets


def init_script(services: dict) -> str:
    command = services["airflow-init"]["command"]
    assert command[0] == "-c"
    # Compose turns $$ into $ before the shell sees the script.
    return command[1].replace("$$", "$")


# What the file wires together.


def test_services_are_airflow_3_with_local_executor(services: dict) -> None:
    assert set(services) == {"postgres", *AIRFLOW_SERVICES}
    assert services["airflow-apiserver"]["command"] == "api-server"
    assert services["airflow-scheduler"]["command"] == "scheduler"
    assert services["airflow-dag-processor"]["command"] == "dag-processor"
    assert services["airflow-triggerer"]["command"] == "triggerer"
    for name in AIRFLOW_SERVICES:
        environment = services[name]["environment"]
        assert environment["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
        assert not [key for key in environment if "CELERY" in key]


def test_image_is_the_pinned_airflow(services: dict) -> None:
    assert airflow_pin() == "3.3.2"
    for name in AIRFLOW_SERVICES:
        assert services[name]["image"] == f"apache/airflow:{airflow_pin()}"


def test_dags_and_plugins_are_mounted_where_airflow_looks(services: dict) -> None:
    for name in LONG_RUNNING_SERVICES:
        environment = services[name]["environment"]
        mounts = volume_targets(services[name])
        # The image's defaults (AIRFLOW_HOME=/opt/airflow), spelled out.
        assert environment["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/airflow/dags"
        assert environment["AIRFLOW__CORE__PLUGINS_FOLDER"] == "/opt/airflow/plugins"
        assert mounts["/opt/airflow/dags"] == "./dags:ro"
        assert mounts["/opt/airflow/plugins"] == "./plugins:ro"

    assert (ROOT / "dags" / "hiccup_stats_update.py").is_file()
    assert (ROOT / "dags" / "hiccup_stats_reset.py").is_file()
    assert (ROOT / "plugins" / "hiccup_stats" / "__init__.py").is_file()


def test_hiccup_connection_reaches_the_task_services_only(services: dict) -> None:
    required = "${AIRFLOW_CONN_HICCUP_DB:?" + MISSING_URI_MESSAGE + "}"
    for name in TASK_SERVICES:
        environment = services[name]["environment"]
        assert environment["AIRFLOW_CONN_HICCUP_DB"] == required
        # Passed through only when set: an empty value is invalid JSON.
        assert "AIRFLOW_VAR_HICCUP_STATS_SETTINGS" in environment
        assert environment["AIRFLOW_VAR_HICCUP_STATS_SETTINGS"] is None
    for name in ("postgres", "airflow-init", "airflow-apiserver"):
        assert "AIRFLOW_CONN_HICCUP_DB" not in services[name]["environment"]


def test_components_share_the_api_server_and_its_secrets(services: dict) -> None:
    assert services["airflow-apiserver"]["ports"] == ["${AIRFLOW_UI_PORT:-8080}:8080"]
    for name in AIRFLOW_SERVICES:
        environment = services[name]["environment"]
        assert (
            environment["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]
            == "http://airflow-apiserver:8080/execution/"
        )
        assert (
            environment["AIRFLOW__API_AUTH__JWT_SECRET_CMD"]
            == f"cat {SECRETS}/jwt_secret"
        )
        assert environment["AIRFLOW__API__SECRET_KEY_CMD"] == (
            f"cat {SECRETS}/api_secret_key"
        )
        assert environment["AIRFLOW__CORE__FERNET_KEY_CMD"] == (
            f"cat {SECRETS}/fernet_key"
        )
        assert volume_targets(services[name])[SECRETS].startswith("airflow-secrets")
        assert volume_targets(services[name])["/opt/airflow/logs"] == "airflow-logs"


def test_new_dags_start_paused(services: dict) -> None:
    # The runbook: hiccup_stats_update stays paused until the first reset.
    for name in AIRFLOW_SERVICES:
        environment = services[name]["environment"]
        assert environment["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "true"
        assert environment["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"


def test_init_migrates_then_creates_the_pool(services: dict) -> None:
    script = init_script(services)
    migrate = script.index("airflow db migrate")
    pool = script.index('airflow pools set hiccup_stats 1 "Hiccup statistics writers"')
    assert migrate < pool
    assert services["airflow-init"]["user"] == "0:0"
    assert services["airflow-init"]["restart"] == "no"

    syntax = subprocess.run(["bash", "-n", "-c", script], capture_output=True)
    assert syntax.returncode == 0, syntax.stderr

    python = re.search(r"<<'PYTHON'\n(.*?)\nPYTHON\n", script, re.DOTALL).group(1)
    compile(python, "airflow-init secrets", "exec")


def test_metadata_database_is_healthy_before_airflow_starts(services: dict) -> None:
    postgres = services["postgres"]
    assert postgres["healthcheck"]["test"] == [
        "CMD",
        "pg_isready",
        "-U",
        "airflow",
        "-d",
        "airflow",
    ]
    assert postgres["volumes"] == ["postgres-db-volume:/var/lib/postgresql/data"]
    assert "ports" not in postgres

    for name in AIRFLOW_SERVICES:
        service = services[name]
        assert (
            service["environment"]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
            == "postgresql+psycopg2://airflow:airflow@postgres/airflow"
        )
        assert service["depends_on"]["postgres"] == {"condition": "service_healthy"}
    for name in LONG_RUNNING_SERVICES:
        assert services[name]["depends_on"]["airflow-init"] == {
            "condition": "service_completed_successfully"
        }
        assert "healthcheck" in services[name]
    # LocalExecutor: tasks run in the scheduler and call the execution API.
    assert services["airflow-scheduler"]["depends_on"]["airflow-apiserver"] == {
        "condition": "service_healthy"
    }


# What Compose makes of it.


@pytest.fixture
def docker_compose(tmp_path: Path):
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip(
            "docker-compose is not installed; on Debian: "
            "apt-get install docker-compose (no Docker engine needed)"
        )

    def run(*args: str, variables: dict[str, str] | None = None, env_file: str = ""):
        # Nothing from the caller's environment or a local .env may leak in.
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AIRFLOW", "COMPOSE_", "DOCKER_"))
        }
        env.update(variables or {})
        env_path = tmp_path / "compose.env"
        env_path.write_text(env_file)
        return subprocess.run(
            [
                binary,
                "--env-file",
                str(env_path),
                "--project-directory",
                str(ROOT),
                "--file",
                str(COMPOSE_FILE),
                *args,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run


def test_compose_validates_the_file(docker_compose) -> None:
    result = docker_compose(
        "config", "-q", variables={"AIRFLOW_CONN_HICCUP_DB": DUMMY_URI}
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""


def test_compose_resolves_the_variables(docker_compose) -> None:
    result = docker_compose(
        "config",
        variables={"AIRFLOW_CONN_HICCUP_DB": DUMMY_URI, "AIRFLOW_UI_PORT": "18080"},
    )

    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    for name in TASK_SERVICES:
        environment = services[name]["environment"]
        assert environment["AIRFLOW_CONN_HICCUP_DB"] == DUMMY_URI
        assert environment["AIRFLOW_VAR_HICCUP_STATS_SETTINGS"] is None
    [port] = services["airflow-apiserver"]["ports"]
    assert (str(port["published"]), str(port["target"])) == ("18080", "8080")


def test_compose_refuses_to_run_without_the_hiccup_database(docker_compose) -> None:
    result = docker_compose("config", "-q")

    assert result.returncode != 0
    assert MISSING_URI_MESSAGE in result.stderr


def test_env_example_gives_a_working_configuration(docker_compose) -> None:
    # Every commented-out variable switched on, as an operator would.
    example = re.sub(
        r"^#(AIRFLOW_\w+=)", r"\1", ENV_EXAMPLE.read_text(), flags=re.MULTILINE
    )

    result = docker_compose("config", env_file=example)

    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    environment = services["airflow-scheduler"]["environment"]
    assert environment["AIRFLOW_CONN_HICCUP_DB"] == (
        "postgresql://hiccup_stats:change-me@db.example.org:5432/hiccup"
    )
    settings = json.loads(environment["AIRFLOW_VAR_HICCUP_STATS_SETTINGS"])
    assert parse_settings(settings) == parse_settings(None)
    [port] = services["airflow-apiserver"]["ports"]
    assert str(port["published"]) == "8080"
