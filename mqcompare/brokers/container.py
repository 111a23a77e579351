"""A RabbitMQ broker in a Docker container that mqcompare starts, faults and removes, through
the Docker SDK: the write-up's own setup (its fault was `docker stop` / `docker start`).

The container publishes AMQP on a loopback port chosen before it starts, so that the
port survives `docker stop` / `docker start` (an ephemeral mapping would move, and the
clients with it). Docker's port proxy accepts TCP connections even while the broker in
the container is down, so "up" here is an AMQP handshake answered, never a bare connect."""

from __future__ import annotations

import contextlib
import json
import os
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from mqcompare.brokers.base import UP_TIMEOUT_S, BrokerControl
from mqcompare.brokers.erlang import drop_connections, erl_call, erl_call_path
from mqcompare.brokers.guardian import Guardian
from mqcompare.brokers.node import parse_queue_list
from mqcompare.brokers.ports import amqp_answers, free_port, loopback_url, state_dir
from mqcompare.errors import BrokerNotBack, InfrastructureError
from mqcompare.files import write_json
from mqcompare.observe import PhaseLog, sleep_until, wait_for

IMAGE_ENV = "MQCOMPARE_DOCKER_IMAGE"
DEFAULT_IMAGE = "rabbitmq:3-management"
LOCAL_IMAGE = "mqcompare/rabbitmq:local"  # what `make docker-image` builds without a registry
# the images `make docker-image` builds from Debian's packages, and how
BUILDS = {
    LOCAL_IMAGE: "make docker-image",  # Debian 12, RabbitMQ 3.10
    "mqcompare/rabbitmq:4.0": "make docker-image RABBITMQ=4.0",  # Debian 13, RabbitMQ 4.0
}


def how_to_build(image: str) -> str:
    """What to do about a missing image, in words."""
    if image in BUILDS:
        return f"`{BUILDS[image]}` builds it from Debian's packages"
    return f"`make docker-image` builds {LOCAL_IMAGE} from Debian's packages (--docker-image)"


LABEL = "mqcompare.run"
BOOT_TIMEOUT_S = 90.0
DIST_PORT = 25672  # the node's distribution port: its AMQP port + 20000 (RabbitMQ's default)
COOKIE_FILE = "/var/lib/rabbitmq/.erlang.cookie"
STOP_TIMEOUT_S = 30  # docker stop: SIGTERM, then SIGKILL after this many seconds


def kept_file() -> Path:
    """Where `mqcompare broker up --docker` describes the container it keeps."""
    return state_dir() / "docker.json"


def kept_container() -> DockerBroker | None:
    """The container `mqcompare broker up --docker` keeps, if it still answers."""
    try:
        state = json.loads(kept_file().read_text())
    except (OSError, ValueError):
        return None
    try:
        client = docker_client()
        container = client.containers.get(state["container"])
    except Exception:
        return None
    broker = DockerBroker(client, container, int(state["port"]), str(state["image"]), keep=True)
    broker.owned = False
    return broker if broker.serving() else None


def docker_client() -> Any:
    """A client of the local Docker engine; InfrastructureError if none answers."""
    try:
        import docker
    except ImportError:  # pragma: no cover - a dependency of mqcompare
        raise InfrastructureError("--broker docker: the docker package is not installed") from None
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except Exception as exc:
        raise InfrastructureError(
            f"--broker docker: no Docker engine answers ({type(exc).__name__}); start dockerd "
            f"or use --broker local"
        ) from None
    return client


def engine_answers() -> bool:
    try:
        docker_client()
    except InfrastructureError:
        return False
    return True


def image_name() -> str:
    return os.environ.get(IMAGE_ENV) or DEFAULT_IMAGE


def image_missing(image: str = "") -> str:
    """What keeps a container of `image` ("" the default) from starting here ('' when
    nothing): no engine, or no image (mqcompare pulls none: these machines reach no
    registry)."""
    try:
        client = docker_client()
    except InfrastructureError:
        return "no Docker engine answers (apt-get install -y docker.io; dockerd)"
    image = image or image_name()
    try:
        client.images.get(image)
    except Exception:
        return f"the image {image}, which is not here ({how_to_build(image)})"
    return ""


class DockerBroker(BrokerControl):
    """One container of a RabbitMQ image, labelled with the run (or matrix) that owns it."""

    def __init__(self, client: Any, container: Any, port: int, image: str, keep: bool) -> None:
        self.client = client
        self.container = container
        self.port = port
        self.image = image
        self.keep = keep
        self.owned = True
        self.url = loopback_url(port)
        self.guardian: Guardian | None = None
        self.management_port = 0
        self.cookie = ""
        self.node_name = "rabbit@mqcompare"  # its hostname's node (a cluster names its own)

    @classmethod
    def start_new(cls, label: str, keep: bool = False, image: str | None = None) -> DockerBroker:
        client = docker_client()
        image = image or image_name()
        try:
            found = client.images.get(image)
        except Exception:
            raise InfrastructureError(
                f"--broker docker: image {image} is not here and cannot be pulled without a "
                f"registry; {how_to_build(image)}"
            ) from None
        port = free_port()
        ports: dict[str, tuple[str, int]] = {"5672/tcp": ("127.0.0.1", port)}
        exposed = (found.attrs.get("Config") or {}).get("ExposedPorts") or {}
        if "15672/tcp" in exposed:  # the management UI, where the image has it (official)
            ports["15672/tcp"] = ("127.0.0.1", free_port())
        container = client.containers.create(
            image,
            detach=True,
            hostname="mqcompare",  # the node's name (rabbit@mqcompare) survives a restart
            name=f"mqcompare-{label}-{port}",
            labels={"mqcompare": "1", LABEL: label},  # every container of ours, and whose
            ports=ports,
            stop_signal="SIGTERM",
        )
        broker = cls(client, container, port, image, keep)
        broker.management_port = ports.get("15672/tcp", ("", 0))[1]
        if not keep:
            # a guardian removes the container if mqcompare dies without removing it
            broker.guardian = Guardian.start()
            broker.guardian.tell(container.id, container=container.id)
        try:
            container.start()
            if wait_for(broker.serving, BOOT_TIMEOUT_S, poll=0.1) is None:
                raise InfrastructureError(
                    f"the RabbitMQ container {container.name} ({image}) did not answer AMQP on "
                    f"127.0.0.1:{port} within {BOOT_TIMEOUT_S:g} s; its log: "
                    f"{broker.boot_output(lines=5).strip()[-300:]}"
                )
            if keep:
                kept_file().parent.mkdir(parents=True, exist_ok=True)
                kept = {"container": container.id, "port": port, "image": image}
                write_json(kept_file(), kept)
        except BaseException:
            broker.stop()
            raise
        return broker

    # -- observing ---------------------------------------------------------------------
    def serving(self) -> bool:
        return amqp_answers("127.0.0.1", self.port, timeout=0.5)

    def accepting(self) -> bool:
        return self.serving()

    def status(self) -> str:
        with contextlib.suppress(Exception):
            self.container.reload()
            return str(self.container.status)
        return "gone"

    @property
    def name(self) -> str:
        return str(self.container.name)

    @property
    def endpoint(self) -> tuple[str, int]:
        return "127.0.0.1", self.port

    def describe(self) -> str:
        kept = "kept container" if self.keep else "container"
        ui = f", management 127.0.0.1:{self.management_port}" if self.management_port else ""
        return f"{kept} {self.container.name} ({self.image}) at 127.0.0.1:{self.port}{ui}"

    def heal(self) -> None:
        if self.serving():
            return
        state = self.status()
        if state == "paused":
            self.container.unpause()
        elif state != "running":
            self.container.start()
        if wait_for(self.serving, BOOT_TIMEOUT_S, poll=0.1) is None:
            raise InfrastructureError(f"the container {self.container.name} does not answer AMQP")

    def _come_back(self, fault: str, log: PhaseLog) -> None:
        t_up = wait_for(self.serving, UP_TIMEOUT_S, poll=0.05)
        if t_up is None:
            raise BrokerNotBack(
                f"{fault}: the container {self.container.name} did not answer AMQP within "
                f"{UP_TIMEOUT_S:g} s"
            )
        log.up(t_up)

    # -- faults ------------------------------------------------------------------------
    def restart(self, down: float, log: PhaseLog) -> None:
        """`docker stop` (SIGTERM: the node shuts down gracefully), down `down` seconds
        after it stopped answering, `docker start` on the same volume."""
        stopping = threading.Thread(target=self.container.stop, kwargs={"timeout": STOP_TIMEOUT_S})
        stopping.start()
        t_down = wait_for(lambda: not self.serving(), STOP_TIMEOUT_S + 10, poll=0.02)
        stopping.join()
        if t_down is None:
            raise InfrastructureError(f"{self.container.name} still answered after docker stop")
        self._start_again("restart", t_down, down, log)

    def kill(self, down: float, log: PhaseLog) -> None:
        """`docker kill` (SIGKILL), then `docker start` `down` seconds after it was gone."""
        # seen down when the node stops answering AMQP (Docker's API returns from the
        # kill a few hundred ms after the node is gone), and gone by the time it returns
        killing = threading.Thread(target=self.container.kill)
        killing.start()
        t_down = wait_for(lambda: not self.serving(), 10.0, poll=0.02)
        killing.join()
        if t_down is None or wait_for(lambda: self.status() != "running", 10.0) is None:
            raise InfrastructureError(f"{self.container.name} survived docker kill")
        self._start_again("kill", t_down, down, log)

    def _start_again(self, fault: str, t_down: float, down: float, log: PhaseLog) -> None:
        log.down(t_down)
        sleep_until(t_down + down)
        self.container.start()
        self._come_back(fault, log)

    def pause(self, down: float, log: PhaseLog) -> None:
        """`docker pause` (the cgroup freezer: connections open, nothing answers), then
        `docker unpause` after `down` seconds."""
        self.container.pause()
        try:
            t_down = wait_for(lambda: self.status() == "paused", 10.0, poll=0.02)
            if t_down is None:
                raise InfrastructureError(f"{self.container.name} was not seen paused")
            log.down(t_down)
            sleep_until(t_down + down)
        finally:
            with contextlib.suppress(Exception):
                self.container.unpause()  # never leave a frozen broker behind
        self._come_back("pause", log)

    def drop_clients(self) -> int:
        return drop_connections(self.eval)

    def eval(self, expr: str, timeout: float = 60.0) -> str:
        """Evaluate an Erlang expression in the container's node: with the machine's
        erl_call over the Docker network (milliseconds, so a fault lands on time), else
        `rabbitmqctl eval` inside the container (it boots a CLI VM first: seconds)."""
        expr = expr.replace("\n", " ")
        address = self._dist_address() if erl_call_path() else ""
        if address:
            return erl_call(self.name, address, expr, timeout, self._cookie())
        code, out = self.container.exec_run(["rabbitmqctl", "eval", expr])
        lines = out.decode(errors="replace").strip().splitlines()
        if code != 0 or not lines:
            detail = lines[-1] if lines else f"exit {code}"
            raise InfrastructureError(f"rabbitmqctl eval failed in {self.container.name}: {detail}")
        return lines[-1].strip()

    def _dist_address(self) -> str:
        """The node's distribution port on the container's address ('' if it has none)."""
        ip = self.address()
        return f"{ip}:{DIST_PORT}" if ip else ""

    def address(self) -> str:
        """The container's address on its (first) network, '' if it has none: looked up
        each time, since a restarted container may get another."""
        with contextlib.suppress(Exception):
            self.container.reload()
            networks = self.container.attrs["NetworkSettings"]["Networks"]
            return next((n["IPAddress"] for n in networks.values() if n.get("IPAddress")), "")
        return ""

    def pid(self) -> int:
        """The pid of the container's first process (its namespaces are that process's)."""
        self.container.reload()
        pid = int(self.container.attrs["State"]["Pid"])
        if not pid:
            raise InfrastructureError(f"{self.container.name} is not running")
        return pid

    def _cookie(self) -> str:
        """The node's Erlang cookie, which erl_call must present (read once: it lives on
        the container's volume and survives a restart)."""
        if not self.cookie:
            code, out = self.container.exec_run(["cat", COOKIE_FILE])
            if code != 0:
                raise InfrastructureError(f"{self.container.name}: cannot read {COOKIE_FILE}")
            self.cookie = out.decode().strip()
        return self.cookie

    def set_policy(self, name: str, pattern: str, definition: dict[str, object]) -> None:
        argv = ["rabbitmqctl", "set_policy", name, pattern, json.dumps(definition)]
        code, out = self.container.exec_run([*argv, "--apply-to", "queues"])
        if code != 0:
            last = out.decode(errors="replace").strip().splitlines()
            raise InfrastructureError(
                f"{self.container.name} refused policy {name}: {last[-1] if last else code}"
            )

    def clear_policy(self, name: str) -> None:
        with contextlib.suppress(Exception):
            self.container.exec_run(["rabbitmqctl", "clear_policy", name])

    def queue_seen(self, queue: str) -> dict[str, str] | None:
        argv = ["rabbitmqctl", "list_queues", "-q", "--no-table-headers", "name", "type", "policy"]
        with contextlib.suppress(Exception):
            code, out = self.container.exec_run(argv)
            if code == 0:
                return parse_queue_list(out.decode(errors="replace"), queue)
        return None

    # -- logs and the end ----------------------------------------------------------------
    def log_excerpt(self, since: float | None = None, lines: int = 400) -> str:
        with contextlib.suppress(Exception):
            kw: dict[str, Any] = {"tail": lines}
            if since is not None:
                kw["since"] = datetime.fromtimestamp(since)
            return bytes(self.container.logs(**kw)).decode(errors="replace")
        return ""

    def boot_output(self, lines: int = 200) -> str:
        return self.log_excerpt(lines=lines)

    def stop(self) -> None:
        """Remove the container and its volume."""
        with contextlib.suppress(Exception):
            self.container.remove(force=True, v=True)
        if self.keep:
            with contextlib.suppress(FileNotFoundError):
                kept_file().unlink()
        if self.guardian is not None:
            self.guardian.release(self.container.id)
            self.guardian = None

    def close(self) -> None:
        if not self.keep:
            self.stop()
