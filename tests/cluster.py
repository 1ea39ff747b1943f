"""Several ``qa serve`` replicas behind nginx, sharing PostgreSQL and Redis, on 127.0.0.1.

The replicas are real subprocesses (what an operator runs), nginx runs in the foreground with its
own prefix, pid and log paths, configured from ``deploy/nginx.conf`` (only addresses and paths
are swapped), the database is a fresh PostgreSQL database migrated with ``qa db upgrade``, and
Redis keys carry a prefix of their own. ``Cluster.env`` is what every replica got, so a test can
start more processes (``qa index add``…) against the same shared state.

Reusable: ``start_cluster(root, index_dir, replicas=2, env={...})`` yields a ``Cluster``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.databases import REDIS_URL, closed_port, fresh_postgres_database, unique_prefix

REPO = Path(__file__).resolve().parent.parent
NGINX_CONF = REPO / "deploy" / "nginx.conf"
QA = [sys.executable, "-m", "qa.cli"]


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


def run_qa(args: list[str], env: Mapping[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run a ``qa`` command with ``env``; raises with its output when it fails."""
    done = subprocess.run([*QA, *args], env=dict(env), capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"qa {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


@dataclass
class Replica:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        """How nginx names this replica in ``$upstream_addr``."""
        return f"127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, no drained writes, as when a machine dies."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()  # SIGTERM: uvicorn's graceful shutdown
            try:
                self.process.wait(40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@dataclass
class Cluster:
    url: str  # nginx
    replicas: list[Replica]
    env: dict[str, str]
    database_url: str
    redis_prefix: str
    nginx_log: Path
    extra: dict[str, object] = field(default_factory=dict)


def _wait_ready(url: str, process: subprocess.Popen[bytes] | None, log: Path, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url} exited ({process.returncode}):\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout} s:\n{log.read_text()[-4000:]}")


def nginx_config(root: Path, port: int, replicas: list[Replica]) -> str:
    """``deploy/nginx.conf`` with local addresses and paths (each swap must find its target)."""
    text = NGINX_CONF.read_text()
    servers = "".join(f"        server {r.address} max_fails=1 fail_timeout=10s;\n" for r in replicas)
    swaps = {
        "        server api:8000 max_fails=1 fail_timeout=10s;\n": servers,
        "listen 80;": f"listen 127.0.0.1:{port};",
        "pid /run/nginx.pid;": f"pid {root}/nginx.pid;",
        "error_log /dev/stderr warn;": f"error_log {root}/error.log warn;",
        "access_log /dev/stdout qa;": f"access_log {root}/access.log qa;",
        # Tests learn which replica answered (not in the shipped file: it would expose addresses).
        "        proxy_pass http://qa;\n": (
            "        proxy_pass http://qa;\n        add_header X-Upstream $upstream_addr always;\n"
        ),
    }
    for old, new in swaps.items():
        if old not in text:
            raise AssertionError(f"deploy/nginx.conf changed: {old.strip()!r} not found")
        text = text.replace(old, new)
    temp = "".join(
        f"    {kind}_temp_path {root}/{kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    text = text.replace("http {\n", "http {\n" + temp, 1)
    if os.geteuid() == 0:  # workers would switch to nobody, who cannot enter the test's tmp dir
        text = "user root;\n" + text
    return text


@contextmanager
def run_nginx(root: Path, replicas: list[Replica]) -> Iterator[tuple[str, Path]]:
    binary = nginx_binary()
    assert binary is not None, "nginx is not installed (apt-get install nginx)"
    root.mkdir(parents=True, exist_ok=True)
    port = closed_port()
    conf = root / "nginx.conf"
    conf.write_text(nginx_config(root, port, replicas))
    log = root / "nginx.out"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [binary, "-p", str(root), "-c", str(conf), "-e", str(root / "error.log"), "-g", "daemon off;"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"nginx exited:\n{log.read_text()}\n{(root / 'error.log').read_text()}")
            try:
                httpx.get(f"{url}/healthz", timeout=2)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield url, root / "error.log"
    finally:
        process.send_signal(signal.SIGQUIT)  # graceful: finish requests in flight
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def base_env(root: Path, index_dir: Path, corpus_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        QA_CORPUS_DIR=str(corpus_dir),
        QA_INDEX_DIR=str(index_dir),
        QA_INDEX__AUTO_BUILD="false",  # built once, before any replica starts
        QA_EMBEDDING__CACHE_DIR=str(REPO / "index" / "models"),  # the ONNX export, made once
        QA_OBSERVABILITY__LOG_JSON="false",
        PYTHONUNBUFFERED="1",
    )
    return env


@contextmanager
def start_cluster(
    root: Path, corpus_dir: Path, replicas: int = 2, env: Mapping[str, str] | None = None
) -> Iterator[Cluster]:
    """Build the index once, migrate a fresh database, start ``replicas`` servers and nginx."""
    root.mkdir(parents=True, exist_ok=True)
    index_dir = root / "index"
    shared = base_env(root, index_dir, corpus_dir)
    prefix = unique_prefix()
    with ExitStack() as stack:
        database_url = stack.enter_context(fresh_postgres_database())
        shared.update(QA_DATABASE_URL=database_url, QA_REDIS_URL=REDIS_URL, QA_REDIS_KEY_PREFIX=prefix)
        shared.update(QA_SECURITY__TRUSTED_PROXIES="127.0.0.1")  # X-Forwarded-For from nginx
        shared.update(env or {})
        run_qa(["index", "build"], shared)
        run_qa(["db", "upgrade"], shared)
        started: list[Replica] = []
        stack.callback(stop_all, started)
        for number in range(replicas):
            port = closed_port()
            log = root / f"replica{number}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [*QA, "serve", "--host", "127.0.0.1", "--port", str(port)],
                    env=shared,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            started.append(Replica(port, process, log))
        for replica in started:
            _wait_ready(replica.url, replica.process, replica.log)
        url, nginx_log = stack.enter_context(run_nginx(root / "nginx", started))
        stack.callback(forget_redis_keys, prefix)
        yield Cluster(url, started, shared, database_url, prefix, nginx_log)


def stop_all(replicas: list[Replica]) -> None:
    for replica in replicas:
        replica.stop()


def forget_redis_keys(prefix: str) -> None:
    """Delete the run's keys (Slack dedupe keys would otherwise linger for hours)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
