"""A private RabbitMQ node on free loopback ports with its own data directory, started
from the installed rabbitmq-server; it never touches the machine's own broker on 5672.

A fault reports what it observed, not what it launched: `down` when the node refuses
connections (or its process is gone), `up` when it accepts them again. Commands reach
the node through `erl_call`, a small C program that speaks the Erlang distribution
protocol, so no CLI VM boots on a fault's critical path (`rabbitmqctl` needs about 1.5 s
before it acts; it remains the fallback)."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from mqcompare.brokers.base import CTL_TIMEOUT_S, UP_TIMEOUT_S, BrokerControl
from mqcompare.brokers.erlang import (
    drop_connections,
    erl_call_argv,
    erl_call_path,
    erl_call_value,
    running_alarms_cleared,
)
from mqcompare.brokers.guardian import Guardian
from mqcompare.brokers.plugins import core_only, installed_plugins
from mqcompare.brokers.ports import (
    epmd_registered,
    free_port,
    loopback_url,
    port_free,
    port_open,
    state_dir,
)
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

BOOT_TIMEOUT_S = 60.0  # one boot of a node: about 5 s here, more on a loaded machine
BOOT_ATTEMPTS = 3  # a node killed by a fault is booted again this many times at most
STOP_TIMEOUT_S = 30.0  # a graceful stop must close the listener within this
# a cluster's nodes notice a lost peer within about this (Erlang's default is 60 s; Jepsen
# ran 15-30 s): short, so that a partition of a few seconds is seen by the nodes
NET_TICKTIME_S = 5
DEBIAN_SCRIPTS = Path("/usr/lib/rabbitmq/bin")


@dataclass
class NodeState:
    """Everything needed to find, control and stop a private node from another process."""

    node: str
    port: int
    dist_port: int
    dir: str
    server_pid: int
    keep: bool = False  # kept by `broker up` for several runs
    # a cluster's node: its own loopback address, a long name, the cluster's own epmd
    host: str = "127.0.0.1"
    epmd_port: int = 0  # 0: the machine's epmd (4369)

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

    def __init__(self, state: NodeState, owned: bool) -> None:
        self.state = state
        self.owned = owned
        self.url = loopback_url(state.port, state.host)
        self._server: subprocess.Popen[bytes] | None = None
        # every server process group ever started for this node: a boot that failed may
        # leave a VM behind whose pid file is gone, and only its group still finds it
        self._groups: set[int] = {state.server_pid} if state.server_pid else set()
        self._guardian: Guardian | None = None
        self._shared_guardian = False  # a cluster's: it ends with the cluster, not the node
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
        ip = "{" + st.host.replace(".", ",") + "}"
        erl_args = f"-kernel inet_dist_use_interface {ip}"
        env.update(
            RABBITMQ_NODENAME=st.node,
            RABBITMQ_NODE_IP_ADDRESS=st.host,
            RABBITMQ_NODE_PORT=str(st.port),
            RABBITMQ_DIST_PORT=str(st.dist_port),
            RABBITMQ_MNESIA_BASE=f"{d}/mnesia",
            RABBITMQ_LOG_BASE=f"{d}/log",
            RABBITMQ_ENABLED_PLUGINS_FILE=f"{d}/enabled_plugins",
            RABBITMQ_FEATURE_FLAGS_FILE=f"{d}/feature_flags",
            RABBITMQ_PID_FILE=f"{d}/pid",
            RABBITMQ_CONFIG_FILE=f"{d}/rabbitmq",
        )
        if Path(d, "plugins").is_dir():
            env["RABBITMQ_PLUGINS_DIR"] = f"{d}/plugins"
        if st.epmd_port:
            # a cluster's node: a long name on its own address, whose connections to the
            # other nodes leave from that address (so a partition rule can name it), and
            # the machine's rabbitmq-env.conf (which pins everything to 127.0.0.1) unread
            env.update(
                RABBITMQ_USE_LONGNAME="true",
                RABBITMQ_CONF_ENV_FILE=f"{d}/rabbitmq-env.conf",
                ERL_EPMD_PORT=str(st.epmd_port),
            )
            erl_args += f" -kernel inet_dist_connect_options [{{ip,{ip}}}]"
            erl_args += f" -kernel net_ticktime {NET_TICKTIME_S}"
        env["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"] = erl_args
        if self._home:
            env["HOME"] = self._home  # the Erlang cookie rabbitmqctl, erl_call and the node share
        return env

    # -- lifecycle -------------------------------------------------------------------
    @classmethod
    def start_new(
        cls,
        keep: bool = False,
        guard: bool | None = None,
        *,
        host: str = "127.0.0.1",
        epmd_port: int = 0,
        config: str = "",
        guardian: Guardian | None = None,
    ) -> LocalNode:
        """Boot a fresh node. `guard` (default: unless kept) starts a guardian process that
        stops the node if this process dies without stopping it; a cluster passes the one
        `guardian` of all its nodes. `host`, `epmd_port` and `config` (rabbitmq.conf text)
        make it one node of a cluster."""
        scripts = _scripts()
        if scripts is None:
            raise InfrastructureError(
                "rabbitmq-server is not installed: apt-get install -y rabbitmq-server "
                "(or pass --broker amqp://user:pass@host:port/)"
            )
        port, dist = free_port(), free_port()
        d = Path(tempfile.mkdtemp(prefix=f"mqcompare-node-{port}-"))
        for sub in ("mnesia", "log"):
            (d / sub).mkdir()
        (d / "enabled_plugins").write_text("[].\n")
        (d / "rabbitmq-env.conf").write_text("")
        installed = installed_plugins(scripts)
        if installed is not None:
            core_only(installed, d / "plugins")  # boots faster (brokers/plugins.py)
        if config:
            (d / "rabbitmq.conf").write_text(config)
        # a cluster's node has a long name on its own address; a lone node a short one
        name = f"mqc-{port}@{host if epmd_port else 'localhost'}"
        state = NodeState(name, port, dist, str(d), 0, keep, host, epmd_port)
        node = cls(state, owned=True)
        if guardian is not None:
            node._guardian, node._shared_guardian = guardian, True
            node._tell_guardian(dir=state.dir, pidfile=str(state.pidfile))
        elif not keep if guard is None else guard:
            node._start_guardian()
        node._chown()
        try:
            node._boot()
        except BaseException:
            node.stop()
            raise
        return node

    def _start_guardian(self) -> None:
        self._guardian = Guardian.start()
        self._tell_guardian(dir=self.state.dir, pidfile=str(self.state.pidfile))

    def _tell_guardian(self, **msg: object) -> None:
        if self._guardian is not None:
            self._guardian.tell(self.state.node, **msg)

    def _chown(self) -> None:
        if self._user is None:
            return
        pw = pwd.getpwnam(self._user)
        for root, dirs, files in os.walk(self.state.dir):
            for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                os.chown(name, pw.pw_uid, pw.pw_gid)

    def _boot(self, attempts: int = 1) -> float:
        """Start the node and wait until it accepts connections; the time it did. A boot
        that fails is retried after clearing what a killed node leaves behind."""
        failure: InfrastructureError | None = None
        for attempt in range(attempts):
            if attempt:
                self._clear_remnants()
            try:
                return self._boot_once()
            except InfrastructureError as exc:
                failure = exc
        assert failure is not None
        raise failure

    def _boot_once(self) -> float:
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
        self._groups.add(self._server.pid)
        self._tell_guardian(pgids=sorted(self._groups))
        up = await_started(
            self._server,
            self.serving,
            BOOT_TIMEOUT_S,
            f"private RabbitMQ node {self.state.node} on port {self.state.port}",
            f"{self.state.dir}/log and server.out",
        )
        if self.state.keep:
            _save_state(self.state)
        return up

    def _clear_remnants(self) -> None:
        """What a dead or half-booted node leaves that makes the next boot fail: its VM, a
        stale pid file, its name still registered with epmd, its ports still held."""
        pid = self.state.beam_pid()
        if pid is not None and pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            self._wait_gone(pid, 10.0)
        self._kill_groups()
        self._reap_server()
        with contextlib.suppress(FileNotFoundError):
            self.state.pidfile.unlink()
        name = self.state.node.partition("@")[0]
        st = self.state
        wait_for(
            lambda: (
                not epmd_registered(name, st.epmd_port)
                and port_free(st.port, st.host)
                and port_free(st.dist_port, st.host)
            ),
            10.0,
            poll=0.1,
        )

    def accepting(self) -> bool:
        """Something accepts TCP connections on the node's AMQP port (a refused connect is
        instant on loopback; a bare connect and close is not logged by the broker)."""
        return port_open(self.state.host, self.state.port, timeout=0.2)

    def serving(self) -> bool:
        """The node is back: its port accepts connections and its RabbitMQ application
        says it runs (a port some other process holds is not the node coming back)."""
        if not self.accepting():
            return False
        try:
            return self.eval("rabbit:is_running().", timeout=5) == "true"
        except InfrastructureError:
            return False

    def heal(self) -> None:
        """A node that accepts connections; if a fault left it dead or stopped, start it
        again (its application if its VM is up, else the whole node, on the same data).
        An alarm left raised by a run that was killed is cleared."""
        if self.accepting() and running_alarms_cleared(lambda e: self.eval(e, timeout=5)):
            return
        pid = self.state.beam_pid()
        if pid is not None and pid_alive(pid):
            with contextlib.suppress(InfrastructureError):
                self.eval("rabbit:start().", timeout=BOOT_TIMEOUT_S)
                if wait_for(self.serving, 10.0) is not None:
                    return
        # a VM whose application will not start holds the node's name: it goes first
        self._clear_remnants()
        self._boot(attempts=BOOT_ATTEMPTS)

    # -- talking to the node -----------------------------------------------------------
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

    def _eval_start(self, expr: str, timeout: float) -> subprocess.Popen[bytes]:
        """Start evaluating an Erlang expression on the node; finish with `_eval_finish`."""
        erl_call = erl_call_path()
        if erl_call:
            argv = erl_call_argv(erl_call, f"{self.state.host}:{self.state.dist_port}", timeout)
        else:
            argv = [self._script("rabbitmqctl"), "-n", self.state.node, "eval", expr]
        # erl_call reads the expression from stdin up to its end, and wants it to end in
        # ".\n"; it fits a pipe's buffer, so it is written before the child starts
        read_end, write_end = os.pipe()
        with os.fdopen(write_end, "wb") as w:
            w.write(expr.encode() + b"\n" if erl_call else b"")
        try:
            return subprocess.Popen(
                argv,
                env=self._env(),
                user=self._user,
                stdin=read_end,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        finally:
            os.close(read_end)

    def _eval_finish(self, proc: subprocess.Popen[bytes], expr: str, timeout: float) -> str:
        """The value of the expression `proc` evaluates, as the node printed it."""
        try:
            out, err = proc.communicate(timeout=timeout + 5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise InfrastructureError(
                f"{self.state.node} did not answer {expr!r} within {timeout:g} s"
            ) from None
        return erl_call_value(self.state.node, expr, proc.returncode, out, err)

    def eval(self, expr: str, timeout: float = CTL_TIMEOUT_S) -> str:
        """Evaluate an Erlang expression on the node; its printed value."""
        return self._eval_finish(self._eval_start(expr, timeout), expr, timeout)

    def set_policy(self, name: str, pattern: str, definition: dict[str, object]) -> None:
        self.ctl("set_policy", name, pattern, json.dumps(definition), "--apply-to", "queues")

    def clear_policy(self, name: str) -> None:
        with contextlib.suppress(InfrastructureError):
            self.ctl("clear_policy", name)

    def queue_seen(self, queue: str) -> dict[str, str] | None:
        try:
            out = self.ctl("list_queues", "-q", "--no-table-headers", "name", "type", "policy")
        except InfrastructureError:
            return None
        return parse_queue_list(out, queue)

    @property
    def name(self) -> str:
        return self.state.node

    @property
    def node_name(self) -> str:
        """Its Erlang node name, as the cluster's other nodes say it."""
        return self.state.node

    @property
    def endpoint(self) -> tuple[str, int]:
        return self.state.host, self.state.port

    def drop_clients(self) -> int:
        return drop_connections(self.eval)

    def kept_words(self) -> str:
        return f"{self.describe()} ({self.display_url}), data in {self.state.dir}"

    def describe(self) -> str:
        kept = "kept node" if self.state.keep else "private node"
        return f"{kept} {self.state.node} at {self.state.host}:{self.state.port}"

    # -- faults ------------------------------------------------------------------------
    def restart(self, down: float, log: PhaseLog) -> None:
        """Graceful: the RabbitMQ application stops (rabbit:stop(), what `rabbitmqctl
        stop_app` calls), stays down for `down` seconds after it was seen stopped, and
        starts again; the Erlang VM stays up, durable queues and persistent messages
        survive."""
        stopping = self._eval_start("rabbit:stop().", CTL_TIMEOUT_S)
        t_down = wait_for(lambda: not self.accepting(), STOP_TIMEOUT_S)
        if t_down is not None:
            log.down(t_down)
        self._eval_finish(stopping, "rabbit:stop().", CTL_TIMEOUT_S)
        if t_down is None:
            raise InfrastructureError(
                f"{self.state.node} still accepted connections {STOP_TIMEOUT_S:g} s after "
                f"rabbit:stop()"
            )
        sleep_until(t_down + down)
        try:
            self.eval("rabbit:start().", timeout=UP_TIMEOUT_S)
        except InfrastructureError as exc:
            raise BrokerNotBack(f"restart: {exc}") from None
        t_up = wait_for(self.serving, UP_TIMEOUT_S)
        if t_up is None:
            raise BrokerNotBack(
                f"restart: {self.state.node} did not accept connections within "
                f"{UP_TIMEOUT_S:g} s of rabbit:start()"
            )
        log.up(t_up)

    def kill(self, down: float, log: PhaseLog) -> None:
        """Crash: SIGKILL the node's VM, stay down for `down` seconds after it is gone,
        boot it again on the same data (retrying what a killed node leaves behind)."""
        pid = self.state.beam_pid()
        if pid is None:
            raise InfrastructureError(f"no pid file for {self.state.node}; cannot kill it")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        t_down = wait_for(lambda: not pid_alive(pid), 10.0)
        if t_down is None:
            raise InfrastructureError(f"{self.state.node} (pid {pid}) survived SIGKILL")
        log.down(t_down)
        self._reap_server()
        with contextlib.suppress(FileNotFoundError):
            self.state.pidfile.unlink()
        sleep_until(t_down + down)
        deadline = time.monotonic() + UP_TIMEOUT_S
        try:
            t_up = self._boot(attempts=BOOT_ATTEMPTS)
        except InfrastructureError as exc:
            raise BrokerNotBack(
                f"kill: {self.state.node} did not come back after {BOOT_ATTEMPTS} boots: {exc}"
            ) from None
        if time.monotonic() > deadline:
            log.note(f"the node took more than {UP_TIMEOUT_S:g} s to come back")
        log.up(t_up)

    def pause(self, down: float, log: PhaseLog) -> None:
        """Freeze: SIGSTOP the node's VM (Jepsen's pause nemesis; its TCP connections stay
        open, nothing answers), `down` once the kernel says it is stopped, SIGCONT after
        `down` seconds, `up` when it serves again."""
        pid = self.state.beam_pid()
        if pid is None:
            raise InfrastructureError(f"no pid file for {self.state.node}; cannot pause it")
        os.kill(pid, signal.SIGSTOP)
        try:
            t_down = wait_for(lambda: process_stopped(pid), 10.0, poll=0.005)
            if t_down is None:
                raise InfrastructureError(f"{self.state.node} (pid {pid}) did not stop")
            log.down(t_down)
            sleep_until(t_down + down)
        finally:
            os.kill(pid, signal.SIGCONT)  # never leave a frozen node behind
        t_up = wait_for(self.serving, UP_TIMEOUT_S)
        if t_up is None:
            raise BrokerNotBack(f"pause: {self.state.node} did not serve again after SIGCONT")
        log.up(t_up)

    # -- stopping ----------------------------------------------------------------------
    def _kill_groups(self) -> None:
        """SIGKILL every server process group this node ever had (its VMs with them)."""
        for pgid in self._groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)

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
            if not pid_alive(pid):
                return True
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        """Shut the node down (gracefully, then by force) and remove its directory."""
        pid = self.state.beam_pid()
        if pid is not None and pid_alive(pid):
            with contextlib.suppress(InfrastructureError):
                # what `rabbitmqctl shutdown` asks of the node (it then waits for the pid,
                # as below), without the 2-3 s that rabbitmqctl takes to boot its own VM
                self.eval("spawn(fun() -> rabbit:stop_and_halt() end), ok.", timeout=10)
            if not self._wait_gone(pid, 15.0):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                self._wait_gone(pid, 5.0)
        if self._server is not None and self._server.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._server.pid, signal.SIGTERM)
        self._reap_server()
        self._kill_groups()  # what a failed boot left running, pid file or not
        shutil.rmtree(self.state.dir, ignore_errors=True)
        if self._guardian is not None:
            self._guardian.release(self.state.node, last=not self._shared_guardian)
            self._guardian = None
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

    def boot_output(self, lines: int = 200) -> str:
        try:
            text = (Path(self.state.dir) / "server.out").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:]) + "\n"

    def close(self) -> None:
        if self.owned and not self.state.keep:
            self.stop()
        elif self.state.keep:
            _save_state(self.state)  # a kill fault gave the kept node a new server pid


def parse_queue_list(out: str, queue: str) -> dict[str, str] | None:
    """`rabbitmqctl list_queues name type policy` output -> the row of `queue`."""
    for line in out.splitlines():
        fields = line.split("\t")
        if fields and fields[0] == queue:
            return {"type": fields[1] if len(fields) > 1 else "", "policy": "".join(fields[2:3])}
    return None


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
    write_json(d / "broker.json", asdict(state))


def kept_node() -> LocalNode | None:
    """The node `mqcompare broker up` keeps, if it is still answering."""
    path = state_dir() / "broker.json"
    try:
        state = NodeState(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    pid = state.beam_pid()
    if pid is None or not pid_alive(pid) or not port_open(state.host, state.port):
        return None
    return LocalNode(state, owned=False)
