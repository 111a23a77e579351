"""BrokerControl: the broker a run talks to, and the faults it can suffer.

`LocalNode` is a private RabbitMQ node on free loopback ports with its own data
directory; it never touches the machine's own broker on 5672. `ExternalBroker` is a
URL used as is: it can be talked to, not restarted, so broker faults are refused."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from mqcompare.errors import BadInput, InfrastructureError
from mqcompare.files import write_json
from mqcompare.spec import BROKER_FAULTS, redact_url

BOOT_TIMEOUT_S = 60.0
CTL_TIMEOUT_S = 60.0
DEBIAN_SCRIPTS = Path("/usr/lib/rabbitmq/bin")


def state_dir() -> Path:
    """Where `mqcompare broker up` leaves the description of the node it keeps."""
    env = os.environ.get("MQCOMPARE_STATE_DIR")
    return Path(env) if env else Path.home() / ".local" / "state" / "mqcompare"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class BrokerControl:
    """What a run needs of a broker: a URL, and the faults this broker can perform."""

    url: str = ""
    faults: frozenset[str] = frozenset()
    owned: bool = False  # started by this process, so stopped by it

    @property
    def display_url(self) -> str:
        return redact_url(self.url)

    @property
    def host_port(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        default = 5671 if parts.scheme == "amqps" else 5672
        return parts.hostname or "localhost", parts.port or default

    def describe(self) -> str:
        return self.display_url

    def check_reachable(self, timeout: float = 3.0) -> None:
        host, port = self.host_port
        try:
            with socket.create_connection((host, port), timeout=timeout):
                pass
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise InfrastructureError(f"broker unreachable at {host}:{port}: {reason}") from None

    def require(self, kinds: list[str]) -> None:
        """InfrastructureError naming the first fault this broker cannot perform."""
        for kind in kinds:
            if kind in BROKER_FAULTS and kind not in self.faults:
                what = {"restart": "restarted", "kill": "killed", "drop": "made to drop clients"}
                raise InfrastructureError(
                    f"--fault {kind}: the broker {self.display_url} cannot be {what[kind]} by "
                    f"mqcompare (it only controls nodes it runs); use --broker local"
                )

    def restart(self, down: float) -> None:
        raise InfrastructureError(f"{self.display_url} cannot be restarted")

    def kill(self, down: float) -> None:
        raise InfrastructureError(f"{self.display_url} cannot be killed")

    def drop_connections(self) -> None:
        raise InfrastructureError(f"{self.display_url} cannot drop connections")

    def log_excerpt(self, since: float | None = None, lines: int = 400) -> str:
        return ""

    def close(self) -> None:
        """Stop what this object started; leave alone what it found running."""


class ExternalBroker(BrokerControl):
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("amqp", "amqps") or not parts.hostname:
            raise BadInput("--broker", f"{redact_url(url)} is not an amqp://host[:port] URL")
        self.url = url


@dataclass
class NodeState:
    """Everything needed to find, control and stop a private node from another process."""

    node: str
    port: int
    dist_port: int
    dir: str
    server_pid: int
    keep: bool = False  # kept by `broker up` for several runs

    @property
    def pidfile(self) -> Path:
        return Path(self.dir) / "pid"

    def beam_pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None


class LocalNode(BrokerControl):
    """A private RabbitMQ node started from the installed rabbitmq-server."""

    faults = frozenset(BROKER_FAULTS)

    def __init__(self, state: NodeState, owned: bool) -> None:
        self.state = state
        self.owned = owned
        self.url = f"amqp://guest:guest@127.0.0.1:{state.port}/%2F"
        self._server: subprocess.Popen[bytes] | None = None
        self._user, self._home = _run_as()

    # -- finding the installation -------------------------------------------------
    @staticmethod
    def installed() -> bool:
        return _scripts() is not None

    def _script(self, name: str) -> str:
        found = _scripts()
        if found is None:
            raise InfrastructureError(
                "rabbitmq-server is not installed: apt-get install -y rabbitmq-server "
                "(or pass --broker amqp://user:pass@host:port/)"
            )
        return str(found / name)

    def _env(self) -> dict[str, str]:
        d, st = self.state.dir, self.state
        env = dict(os.environ)
        env.update(
            RABBITMQ_NODENAME=st.node,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(st.port),
            RABBITMQ_DIST_PORT=str(st.dist_port),
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}",
            RABBITMQ_MNESIA_BASE=f"{d}/mnesia",
            RABBITMQ_LOG_BASE=f"{d}/log",
            RABBITMQ_ENABLED_PLUGINS_FILE=f"{d}/enabled_plugins",
            RABBITMQ_FEATURE_FLAGS_FILE=f"{d}/feature_flags",
            RABBITMQ_PID_FILE=f"{d}/pid",
            RABBITMQ_CONFIG_FILE=f"{d}/rabbitmq",
        )
        if self._home:
            env["HOME"] = self._home  # the Erlang cookie rabbitmqctl and the node share
        return env

    # -- lifecycle -------------------------------------------------------------------
    @classmethod
    def start_new(cls, keep: bool = False) -> LocalNode:
        if _scripts() is None:
            raise InfrastructureError(
                "rabbitmq-server is not installed: apt-get install -y rabbitmq-server "
                "(or pass --broker amqp://user:pass@host:port/)"
            )
        port, dist = _free_port(), _free_port()
        d = Path(tempfile.mkdtemp(prefix=f"mqcompare-node-{port}-"))
        for sub in ("mnesia", "log"):
            (d / sub).mkdir()
        (d / "enabled_plugins").write_text("[].\n")
        state = NodeState(f"mqc-{port}@localhost", port, dist, str(d), 0, keep)
        node = cls(state, owned=True)
        node._chown()
        try:
            node._boot()
        except BaseException:
            node.stop()
            raise
        return node

    def _chown(self) -> None:
        if self._user is None:
            return
        pw = pwd.getpwnam(self._user)
        for root, dirs, files in os.walk(self.state.dir):
            for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                os.chown(name, pw.pw_uid, pw.pw_gid)

    def _boot(self) -> None:
        log = open(Path(self.state.dir) / "server.out", "ab")  # noqa: SIM115 - the child keeps it
        try:
            self._server = subprocess.Popen(
                [self._script("rabbitmq-server")],
                env=self._env(),
                user=self._user,
                cwd=self.state.dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # its own session: a Ctrl-C meant for mqcompare must not reach the broker,
                # which is stopped by the code below instead
                start_new_session=True,
            )
        finally:
            log.close()
        self.state.server_pid = self._server.pid
        deadline = time.monotonic() + BOOT_TIMEOUT_S
        while not port_open("127.0.0.1", self.state.port, timeout=0.2):
            if self._server.poll() is not None:
                raise InfrastructureError(
                    f"private RabbitMQ node {self.state.node} exited during boot "
                    f"(code {self._server.returncode}); see {self.state.dir}/log and server.out"
                )
            if time.monotonic() > deadline:
                raise InfrastructureError(
                    f"private RabbitMQ node {self.state.node} did not open port "
                    f"{self.state.port} within {BOOT_TIMEOUT_S:.0f} s; see {self.state.dir}/log"
                )
            time.sleep(0.1)
        if self.state.keep:
            _save_state(self.state)

    def ctl(self, *args: str, timeout: float = CTL_TIMEOUT_S) -> str:
        cmd = [self._script("rabbitmqctl"), "-n", self.state.node, *args]
        try:
            done = subprocess.run(
                cmd,
                env=self._env(),
                user=self._user,
                capture_output=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except subprocess.TimeoutExpired:
            raise InfrastructureError(
                f"rabbitmqctl {args[0]} timed out on {self.state.node}"
            ) from None
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()
            raise InfrastructureError(
                f"rabbitmqctl {args[0]} failed on {self.state.node}: "
                f"{detail[-1] if detail else done.returncode}"
            )
        return done.stdout.decode(errors="replace")

    def describe(self) -> str:
        kept = "kept node" if self.state.keep else "private node"
        return f"{kept} {self.state.node} at 127.0.0.1:{self.state.port}"

    # -- faults ------------------------------------------------------------------------
    def restart(self, down: float) -> None:
        """Graceful: stop the RabbitMQ application, stay down, start it (the VM stays up)."""
        self.ctl("stop_app")
        time.sleep(down)
        self.ctl("start_app")

    def kill(self, down: float) -> None:
        """Crash: SIGKILL the node's VM, stay down, boot it again on the same data."""
        pid = self.state.beam_pid()
        if pid is None:
            raise InfrastructureError(f"no pid file for {self.state.node}; cannot kill it")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        self._wait_gone(pid, 10.0)
        self._reap_server()
        with contextlib.suppress(FileNotFoundError):
            self.state.pidfile.unlink()
        time.sleep(down)
        self._boot()

    def drop_connections(self) -> None:
        self.ctl("close_all_connections", "mqcompare: drop fault")

    # -- stopping ----------------------------------------------------------------------
    def _reap_server(self) -> None:
        if self._server is not None:
            try:
                self._server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._server.pid, signal.SIGKILL)
                self._server.wait()
            self._server = None

    @staticmethod
    def _wait_gone(pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _pid_alive(pid):
                return True
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        """Shut the node down (gracefully, then by force) and remove its directory."""
        pid = self.state.beam_pid()
        if pid is not None and _pid_alive(pid):
            with contextlib.suppress(InfrastructureError):
                self.ctl("shutdown", timeout=30)
            if not self._wait_gone(pid, 15.0):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                self._wait_gone(pid, 5.0)
        if self._server is not None and self._server.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._server.pid, signal.SIGTERM)
        self._reap_server()
        shutil.rmtree(self.state.dir, ignore_errors=True)
        if self.state.keep:
            with contextlib.suppress(FileNotFoundError):
                (state_dir() / "broker.json").unlink()

    def log_excerpt(self, since: float | None = None, lines: int = 400) -> str:
        """The node's log lines from `since` (Unix time) on, the last `lines` of them."""
        logs = sorted(Path(self.state.dir, "log").glob("*.log"))
        if not logs:
            return ""
        text = logs[0].read_text(errors="replace").splitlines()
        if since is not None:
            # lines start with the local time in ISO form, which sorts as text
            stamp = datetime.fromtimestamp(since).strftime("%Y-%m-%d %H:%M:%S")
            text = [line for line in text if line[:19] >= stamp or not line[:4].isdigit()]
        return "\n".join(text[-lines:]) + "\n" if text else ""

    def close(self) -> None:
        if self.owned and not self.state.keep:
            self.stop()
        elif self.state.keep:
            _save_state(self.state)  # a kill fault gave the kept node a new server pid


def _scripts() -> Path | None:
    """The folder of the real rabbitmq-server and rabbitmqctl scripts, if installed."""
    found = shutil.which("rabbitmq-server") or (
        "/usr/sbin/rabbitmq-server" if Path("/usr/sbin/rabbitmq-server").exists() else None
    )
    if found is None:
        return None
    # Debian's wrapper switches to user rabbitmq with `su`, which puts the node in a
    # session we did not start; we call the real scripts and switch user ourselves.
    if Path(found).resolve().name == "rabbitmq-script-wrapper" and DEBIAN_SCRIPTS.is_dir():
        return DEBIAN_SCRIPTS
    return Path(found).resolve().parent


def _run_as() -> tuple[str | None, str | None]:
    """(user, HOME) to run the node as: rabbitmq when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None, None
    try:
        pw = pwd.getpwnam("rabbitmq")
    except KeyError:
        return None, None
    return "rabbitmq", pw.pw_dir


def _save_state(state: NodeState) -> None:
    d = state_dir()
    d.mkdir(parents=True, exist_ok=True)
    write_json(d / "broker.json", asdict(state), indent=2)


def kept_node() -> LocalNode | None:
    """The node `mqcompare broker up` keeps, if it is still answering."""
    path = state_dir() / "broker.json"
    try:
        state = NodeState(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    pid = state.beam_pid()
    if pid is None or not _pid_alive(pid) or not port_open("127.0.0.1", state.port):
        return None
    return LocalNode(state, owned=False)


def open_broker(choice: str) -> BrokerControl:
    """The broker for --broker CHOICE (auto|local|docker|amqp://...), started if need be."""
    if choice.startswith(("amqp://", "amqps://")):
        return ExternalBroker(choice)
    if choice == "auto":
        env_url = os.environ.get("MQCOMPARE_BROKER_URL")
        if env_url:
            return ExternalBroker(env_url)
        if LocalNode.installed():
            return open_broker("local")
        raise InfrastructureError(
            "no broker: install RabbitMQ (apt-get install -y rabbitmq-server), or set "
            "MQCOMPARE_BROKER_URL / pass --broker amqp://user:pass@host:port/"
        )
    if choice == "local":
        return kept_node() or LocalNode.start_new()
    if choice == "docker":
        raise InfrastructureError(
            "--broker docker: Docker broker control is not built yet; start the broker with "
            "`docker compose up -d` and pass --broker amqp://guest:guest@127.0.0.1:5672/"
        )
    raise BadInput(
        "--broker", f"{redact_url(choice)!r} is not one of auto, local, docker, amqp://..."
    )
