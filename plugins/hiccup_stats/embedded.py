"""An embedded PostgreSQL for the demo and the tests (the ``pgserver`` wheel).

Production never uses this module: there the connection ``hiccup_db`` points
at the Hiccup database.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote


def start(data_dir: Path, cleanup_mode: str | None = "stop") -> str:
    """Start (or reuse) an embedded PostgreSQL server in ``data_dir``.

    Args:
        data_dir: Its data folder; created and initialised when empty. Keep the
            path short: the server's Unix socket lives there.
        cleanup_mode: ``"stop"`` stops the server when this process exits,
            ``"delete"`` also deletes ``data_dir``, ``None`` leaves it running.

    Returns:
        A libpq connection URI of its ``postgres`` database.
    """
    import pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    return pgserver.get_server(data_dir, cleanup_mode=cleanup_mode).get_uri()


def airflow_uri(conninfo: dict[str, str], dbname: str) -> str:
    """Return an Airflow connection URI for a database of a PostgreSQL server.

    Args:
        conninfo: libpq parameters of the server (``host``, ``port``,
            ``user``); a ``host`` starting with ``/`` is a socket folder.
        dbname: The database.

    Returns:
        A ``postgresql://`` URI, the socket folder percent-encoded as host.
    """
    user = quote(conninfo.get("user") or "postgres", safe="")
    password = conninfo.get("password")
    credentials = f"{user}:{quote(password, safe='')}" if password else user
    host = quote(conninfo.get("host") or "127.0.0.1", safe="")
    port = conninfo.get("port") or "5432"
    return f"postgresql://{credentials}@{host}:{port}/{quote(dbname, safe='')}"
