"""A private Redis server (`--broker redis`): the installed redis-server on a free loopback
port, with a directory of its own and the run's persistence, never the machine's own
Redis on 6379. It suffers the broker faults as a private RabbitMQ node does, each seen:
`down` when the server no longer accepts connections (or its process is stopped), `up`
when it answers PING again on the same data."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import redis

from mqcompare.brokers.base import UP_TIMEOUT_S
from mqcompare.brokers.guardian import Guardian
from mqcompare.brokers.ports import free_port, port_free, port_open, state_dir
from mqcompare.brokers.redis_url import RedisBroker
from mqcompare.errors import BrokerNotBack, InfrastructureError
from mqcompare.files import write_json
from mqcompare.observe import (
    PhaseLog,
    await_started,
    pid_alive,
    process_stopped,
    sleep_until,
    wait_for,
)
from mqcompare.redis_admin import NO_RETRY

BOOT_TIMEOUT_S = 30.0  # redis-server answers within milliseconds; loading an AOF takes longer
STOP_TIMEOUT_S = 30.0  # a SHUTDOWN that saves must end within this
KEPT_FILE = "redis.json"
# redis.conf lines per --redis-persistence; "default" writes none: redis-server's own
# defaults with no configuration file (RDB: save 3600 1 300 100 60 10000, no AOF)
PERSISTENCE = {
    "default": [],
    "none": ['save ""', "appendonly no"],
    "rdb": ["save 3600 1 300 100 60 10000", "appendonly no"],
    "aof-everysec": ['save ""', "appendonly yes", "appendfsync everysec"],
    "aof-always": ['save ""', "appendonly yes", "appendfsync always"],
}


@dataclass
class RedisState:
    """What finds, controls and stops a private Redis from another process."""

    port: int
    dir: str
    pid: int
    persistence: str
    keep: bool = False


class RedisServer(RedisBroker):
    """A private redis-server; restart, kill, pause and drop its clients."""

    def __init__(self, state: RedisState, owned: bool) -> None:
        super().__init__(f"redis://127.0.0.1:{state.port}/0")
        self.state = state
        self.owned = owned
        self._proc: subprocess.Popen[bytes] | None = None
        self._guardian: Guardian | None = None

    @staticmethod
    def installed() -> bool:
        return shutil.which("redis-server") is not None

    @classmethod
    def start_new(cls, persistence: str = "default", keep: bool = False) -> RedisServer:
        """Start a fresh server; a guardian stops it if this process dies (unless kept)."""
        if not cls.installed():
            raise InfrastructureError(
                "redis-server is not installed: apt-get install -y redis-server "
                "(or pass --broker redis://host:port/db)"
            )
        port = free_port()
        d = Path(tempfile.mkdtemp(prefix=f"mqcompare-redis-{port}-"))
        lines = [
            f"port {port}",
            "bind 127.0.0.1",
            "daemonize no",
            f"dir {d}",
            f"logfile {d}/redis.log",
            f"pidfile {d}/redis.pid",
            # a queue must not lose keys to memory pressure (celery's Redis caveats)
            "maxmemory-policy noeviction",
            *PERSISTENCE[persistence],
        ]
        (d / "redis.conf").write_text("\n".join(lines) + "\n")
        server = cls(RedisState(port, str(d), 0, persistence, keep), owned=True)
        if not keep:
            server._guardian = Guardian.start()
            server._guardian.tell(server.ident, dir=str(d))
        try:
            server._start()
        except BaseException:
            server.stop()
            raise
        return server

    @property
    def ident(self) -> str:
        return f"redis-{self.state.port}"

    def _start(self) -> float:
        """Start redis-server on the same directory; the time it answered PING."""
        d = Path(self.state.dir)
        with open(d / "server.out", "ab") as out:
            self._proc = subprocess.Popen(
                ["redis-server", str(d / "redis.conf")],
                cwd=d,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C meant for mqcompare must not reach it
            )
        self.state.pid = self._proc.pid
        if self._guardian is not None:
            self._guardian.tell(self.ident, pgids=[self._proc.pid])
        name = f"private Redis on port {self.state.port}"
        up = await_started(self._proc, self.answers, BOOT_TIMEOUT_S, name, f"{d}/redis.log")
        if self.state.keep:
            _save(self.state)
        return up

    def answers(self) -> bool:
        """It accepts a connection and answers PING (loading a dump or AOF, it says LOADING)."""
        if not port_open("127.0.0.1", self.state.port, timeout=0.2):
            return False
        client = redis.Redis(
            port=self.state.port, socket_timeout=1, socket_connect_timeout=1, retry=NO_RETRY
        )
        try:
            return bool(client.ping())
        except (redis.RedisError, OSError):
            return False
        finally:
            client.close()

    def _admin_client(self) -> redis.Redis:
        return redis.Redis(
            port=self.state.port, socket_timeout=10, socket_connect_timeout=2, retry=NO_RETRY
        )

    def describe(self) -> str:
        kept = "kept Redis" if self.state.keep else "private Redis"
        return f"{kept} at 127.0.0.1:{self.state.port} (persistence {self.state.persistence})"

    def kept_words(self) -> str:
        return f"{self.describe()}, data in {self.state.dir}"

    def heal(self) -> None:
        """A server that answers; if a fault left it dead, start it again on its data."""
        if self.answers():
            return
        if self.state.pid and pid_alive(self.state.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.state.pid, signal.SIGCONT)  # a pause that was not undone
            if wait_for(self.answers, 5.0) is not None:
                return
            self._kill_now()
        self._start()

    # -- faults ------------------------------------------------------------------------
    def restart(self, down: float, log: PhaseLog) -> None:
        """Graceful: SHUTDOWN (which saves first when persistence is on), `down` once the
        port refuses connections, start again `down` s later on the same data."""
        client = self._admin_client()
        try:
            client.shutdown()
        except redis.RedisError as exc:
            raise InfrastructureError(f"restart: SHUTDOWN failed: {exc}") from None
        finally:
            client.close()
        t_down = wait_for(lambda: not port_open("127.0.0.1", self.state.port, 0.2), STOP_TIMEOUT_S)
        if t_down is None:
            raise InfrastructureError("Redis still accepted connections after SHUTDOWN")
        log.down(t_down)
        self._reap()
        self._start_after(t_down + down, log, "restart")

    def kill(self, down: float, log: PhaseLog) -> None:
        """Crash: SIGKILL, `down` once the process is gone, start it again `down` s later
        on what it had written to disk."""
        pid = self.state.pid
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        t_down = wait_for(lambda: not pid_alive(pid), 10.0)
        if t_down is None:
            raise InfrastructureError(f"Redis (pid {pid}) survived SIGKILL")
        log.down(t_down)
        self._reap()
        self._start_after(t_down + down, log, "kill")

    def pause(self, down: float, log: PhaseLog) -> None:
        """Freeze: SIGSTOP (connections stay open, nothing answers), `down` once the
        kernel says it is stopped, SIGCONT `down` s later, `up` when it answers."""
        pid = self.state.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            t_down = wait_for(lambda: process_stopped(pid), 10.0, poll=0.005)
            if t_down is None:
                raise InfrastructureError(f"Redis (pid {pid}) did not stop")
            log.down(t_down)
            sleep_until(t_down + down)
        finally:
            os.kill(pid, signal.SIGCONT)  # never leave a frozen server behind
        t_up = wait_for(self.answers, UP_TIMEOUT_S)
        if t_up is None:
            raise BrokerNotBack("pause: Redis did not answer again after SIGCONT")
        log.up(t_up)

    @property
    def endpoint(self) -> tuple[str, int]:
        """Where its clients reach it: what a link fault impairs (`Listens`)."""
        return "127.0.0.1", self.state.port

    def drop_clients(self) -> int:
        """CLIENT KILL TYPE normal: every client connection but this one; how many."""
        client = self._admin_client()
        try:
            killed: int = client.client_kill_filter(_type="normal", skipme=True)  # type: ignore[assignment]
            return killed
        except redis.RedisError as exc:
            raise InfrastructureError(f"drop: CLIENT KILL failed: {exc}") from None
        finally:
            client.close()

    def _start_after(self, when: float, log: PhaseLog, fault: str) -> None:
        sleep_until(when)
        try:
            t_up = self._start()
        except InfrastructureError as exc:
            raise BrokerNotBack(f"{fault}: {exc}") from None
        log.up(t_up)

    # -- the end -----------------------------------------------------------------------
    def _reap(self) -> None:
        if self._proc is not None:
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._kill_now()
            self._proc = None

    def _kill_now(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.state.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.state.pid, signal.SIGKILL)
        wait_for(lambda: not pid_alive(self.state.pid), 10.0)
        if self._proc is not None:
            self._proc.wait(timeout=10)
            self._proc = None

    def stop(self) -> None:
        """SHUTDOWN NOSAVE (SIGKILL if it does not end), then remove its directory."""
        pid = self.state.pid
        if pid and pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
            client = self._admin_client()
            with contextlib.suppress(redis.RedisError, OSError):
                client.shutdown(nosave=True)
            client.close()
            if wait_for(lambda: not pid_alive(pid), 10.0) is None:
                self._kill_now()
        self._reap()
        wait_for(lambda: port_free(self.state.port), 5.0)
        shutil.rmtree(self.state.dir, ignore_errors=True)
        if self._guardian is not None:
            self._guardian.release(self.ident)
            self._guardian = None
        if self.state.keep:
            with contextlib.suppress(FileNotFoundError):
                _kept_file().unlink()

    def log_excerpt(self, since: float | None = None, lines: int = 400) -> str:
        try:
            text = (Path(self.state.dir) / "redis.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:]) + "\n"

    def close(self) -> None:
        if self.owned and not self.state.keep:
            self.stop()
        elif self.state.keep:
            _save(self.state)  # a kill gave it a new pid


def _kept_file() -> Path:
    return state_dir() / KEPT_FILE


def _save(state: RedisState) -> None:
    _kept_file().parent.mkdir(parents=True, exist_ok=True)
    write_json(_kept_file(), asdict(state))


def kept_redis() -> RedisServer | None:
    """The Redis `mqcompare broker up --broker redis` keeps, if it still answers."""
    try:
        state = RedisState(**json.loads(_kept_file().read_text()))
    except (OSError, ValueError, TypeError):
        return None
    server = RedisServer(state, owned=False)
    return server if pid_alive(state.pid) and server.answers() else None
