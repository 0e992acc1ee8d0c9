"""Fault injection on a real PostgreSQL: blocked statements and killed backends.

A fault is a backend terminated with ``pg_terminate_backend`` (a worker killed
or its connection dropped while inside a statement), a restart of a server the
test started itself, or a task attempt failed through them. Each is recorded by
the ``Injector`` that caused it and counted in ``INJECTED``.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psycopg
from hiccup_stats import embedded

WAIT_SECONDS = 20
"""The longest any wait of a fault test lasts before it fails."""

INJECTED: collections.Counter[str] = collections.Counter()
"""Faults injected in this process, by kind."""


def wait_for(condition: Callable[[], Any], what: str, timeout: float = WAIT_SECONDS):
    """Poll ``condition`` until it returns a true value; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout} s in vain for {what}")
        time.sleep(0.02)


class Transactions(threading.Thread):
    """Run transactions one after another on a connection of their own, in a thread.

    Args:
        conninfo: The database.
        transactions: Each transaction's statements, run in order.
        params: Their bound parameters.
        hold: Keep the last transaction open after its last statement until
            ``release`` is called, then commit it.
    """

    def __init__(
        self,
        conninfo: str,
        transactions: Sequence[Sequence[str]],
        params: dict[str, Any],
        hold: bool = False,
    ) -> None:
        super().__init__(daemon=True)
        self.connection = psycopg.connect(conninfo)
        self.pid = self.connection.info.backend_pid
        self.transactions = [list(sql) for sql in transactions]
        self.params = params
        self.hold = hold
        self.rows: list[list[tuple]] = []
        self.error: BaseException | None = None
        self.executed = threading.Event()
        self.finished_at: float | None = None
        self._released = threading.Event()

    def run(self) -> None:
        try:
            for number, sql in enumerate(self.transactions, start=1):
                with self.connection.transaction():
                    for statement in sql:
                        cursor = self.connection.execute(statement, self.params)
                    self.rows.append(cursor.fetchall() if cursor.description else [])
                    if number == len(self.transactions):
                        self.executed.set()
                        if self.hold and not self._released.wait(3 * WAIT_SECONDS):
                            raise TimeoutError("never released")
        except BaseException as error:  # The test reads it.
            self.error = error
        finally:
            self.finished_at = time.monotonic()
            self.executed.set()
            self.connection.close()

    def release(self) -> None:
        """Let a held transaction commit."""
        self._released.set()

    def finish(self, timeout: float = WAIT_SECONDS) -> Transactions:
        """Release, wait for the thread to end, and return it."""
        self.release()
        self.join(timeout)
        assert not self.is_alive(), "the transactions did not end"
        return self


class Calling(threading.Thread):
    """Call a function with an autocommit connection of its own, in a thread.

    Args:
        conninfo: The database.
        function: Called with the connection; its result is kept.
    """

    def __init__(self, conninfo: str, function: Callable[[Any], Any]) -> None:
        super().__init__(daemon=True)
        self.connection = psycopg.connect(conninfo, autocommit=True)
        self.pid = self.connection.info.backend_pid
        self.function = function
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.function(self.connection)
        except BaseException as error:  # The test reads it.
            self.error = error
        finally:
            self.connection.close()


class RowLock:
    """A transaction of another client holding row locks, as long as it is open.

    Args:
        conninfo: The database.
        sql: A ``SELECT ... FOR UPDATE`` (or any statement taking row locks).
        params: Its bound parameters.
    """

    def __init__(self, conninfo: str, sql: str, params: Sequence[Any] = ()) -> None:
        self.connection = psycopg.connect(conninfo)
        self.pid = self.connection.info.backend_pid
        self.rows = self.connection.execute(sql, params).fetchall()

    def release(self) -> None:
        """Roll back, releasing the locks (a dropped connection has no locks)."""
        try:
            self.connection.rollback()
        except psycopg.OperationalError:
            pass
        self.connection.close()


class Injector:
    """Watch the backends of one database and inject faults into them.

    Only backends connected to this database, other than its own, can be
    terminated.

    Args:
        conninfo: The database.
    """

    def __init__(self, conninfo: str) -> None:
        self.connection = psycopg.connect(conninfo, autocommit=True)
        self.pid = self.connection.info.backend_pid
        self.injected: list[str] = []
        self._lock = threading.Lock()

    def _one(self, sql: str, *params: Any) -> Any:
        with self._lock:
            return self.connection.execute(sql, params).fetchone()[0]

    def record(self, fault: str) -> None:
        """Count a fault injected by other means."""
        self.injected.append(fault)
        INJECTED[fault.split(":")[0]] += 1

    def blocked_by(self, blocker: int) -> list[int]:
        """Return the backends of this database waiting for ``blocker``."""
        return self._one(
            "SELECT coalesce(array_agg(pid ORDER BY pid), '{}') FROM pg_stat_activity"
            " WHERE datname = current_database() AND %s = ANY(pg_blocking_pids(pid))",
            blocker,
        )

    def wait_blocked(self, pid: int, blocker: int) -> None:
        """Wait until backend ``pid`` waits for a lock that ``blocker`` holds."""
        wait_for(
            lambda: pid in self.blocked_by(blocker), f"{pid} to wait for {blocker}"
        )

    def waits_for_advisory_lock(self, pid: int) -> bool:
        """Return whether ``pid`` waits for an advisory lock it has not got."""
        return self._one(
            "SELECT EXISTS (SELECT FROM pg_locks WHERE pid = %s"
            " AND locktype = 'advisory' AND NOT granted)",
            pid,
        )

    def holds_advisory_lock(self, pid: int) -> bool:
        """Return whether ``pid`` holds an advisory lock."""
        return self._one(
            "SELECT EXISTS (SELECT FROM pg_locks WHERE pid = %s"
            " AND locktype = 'advisory' AND granted)",
            pid,
        )

    def has_written(self, pid: int) -> bool:
        """Return whether ``pid``'s open transaction has written (has an xid)."""
        return self._one(
            "SELECT backend_xid IS NOT NULL FROM pg_stat_activity WHERE pid = %s", pid
        )

    def terminate(self, pid: int, fault: str) -> None:
        """Terminate a backend of this database and wait until it is gone."""
        terminated = self._one(
            "SELECT coalesce(bool_or(pg_terminate_backend(pid)), false)"
            " FROM pg_stat_activity WHERE pid = %s"
            " AND datname = current_database() AND pid <> pg_backend_pid()",
            pid,
        )
        assert terminated, f"backend {pid} is not one of this database"
        wait_for(
            lambda: (
                not self._one(
                    "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE pid = %s)", pid
                )
            ),
            f"backend {pid} to exit",
        )
        self.record(f"backend terminated: {fault}")

    def close(self) -> None:
        """Close the watching connection."""
        self.connection.close()


class KillFirstBlocked(threading.Thread):
    """Hold a row lock, terminate the first backend it blocks, then release it.

    For statements run by someone else (an Airflow task): the row lock makes
    the statement wait inside its transaction, where it is killed.

    Args:
        injector: The injector of the database.
        conninfo: The database.
        sql: The ``SELECT ... FOR UPDATE`` taking the row lock.
        params: Its bound parameters.
        fault: What the killed backend was doing, for the record.
    """

    def __init__(
        self,
        injector: Injector,
        conninfo: str,
        sql: str,
        params: Sequence[Any],
        fault: str,
    ) -> None:
        super().__init__(daemon=True)
        self.injector = injector
        self.row_lock = RowLock(conninfo, sql, params)
        self.fault = fault
        self.killed: list[int] = []
        self.wrote_before_kill: bool | None = None

    def run(self) -> None:
        try:
            blocked = wait_for(
                lambda: self.injector.blocked_by(self.row_lock.pid),
                "a statement to wait for the row lock",
                timeout=3 * WAIT_SECONDS,
            )
            self.wrote_before_kill = self.injector.has_written(blocked[0])
            self.injector.terminate(blocked[0], self.fault)
            self.killed.append(blocked[0])
        finally:
            self.row_lock.release()


class ReleaseWhenWaiting(threading.Thread):
    """Release a held transaction once a number of backends wait for it.

    Args:
        injector: The injector of the database.
        holder: The held transaction (``Transactions`` with ``hold=True``).
        waiters: How many backends must wait for it.
    """

    def __init__(self, injector: Injector, holder: Transactions, waiters: int) -> None:
        super().__init__(daemon=True)
        self.injector = injector
        self.holder = holder
        self.waiters = waiters
        self.waited = 0

    def run(self) -> None:
        try:
            wait_for(
                lambda: len(self.injector.blocked_by(self.holder.pid)) >= self.waiters,
                f"{self.waiters} backends to wait for {self.holder.pid}",
                timeout=3 * WAIT_SECONDS,
            )
            self.waited = len(self.injector.blocked_by(self.holder.pid))
        finally:
            self.holder.release()


class OwnServer:
    """An embedded PostgreSQL started for one test only, in a temporary folder.

    Restarting it touches no other server. ``stop`` stops it and deletes its
    folder.
    """

    def __init__(self) -> None:
        import pgserver

        self.data_dir = Path(tempfile.mkdtemp(prefix="hiccup-faults-pg-"))
        self.uri = embedded.start(self.data_dir, cleanup_mode="delete")
        self._server = pgserver.get_server(self.data_dir)

    def postmaster_pid(self) -> int:
        """Return the process id of the running server."""
        return int((self.data_dir / "postmaster.pid").read_text().split()[0])

    def restart(self, injector: Injector | None = None) -> None:
        """Restart the server (fast shutdown: open transactions roll back)."""
        import pgserver

        pgserver.pg_ctl(
            ["-w", "-t", str(3 * WAIT_SECONDS), "-m", "fast"]
            + ["-l", str(self.data_dir / "log"), "restart"],
            pgdata=self.data_dir,
            user=self._server.system_user,
            timeout=4 * WAIT_SECONDS,
        )
        # Let the handle follow the new server process, so that ``stop`` stops it.
        self._server.ensure_postgres_running()
        if injector is not None:
            injector.record("server restarted: pg_ctl restart -m fast")

    def stop(self) -> None:
        """Stop the server and delete its folder."""
        self._server.cleanup()


def run_bounded(command: Sequence[str], env: dict[str, str]) -> subprocess.Popen:
    """Start a command in a process group of its own; see ``wait_bounded``."""
    return subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def wait_bounded(process: subprocess.Popen, timeout: float) -> tuple[int, str]:
    """Wait for a process started by ``run_bounded``; kill its group on timeout."""
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        raise AssertionError(
            f"{process.args} ran over {timeout} s:\n{output}"
        ) from None
    return process.returncode, output
