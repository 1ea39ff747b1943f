"""A real Milvus Lite server (``milvus-lite server``) on 127.0.0.1, one per test session.

The server speaks the same gRPC API as a Milvus cluster, to many processes at once; each test
uses its own collection prefix, so tests never see each other's documents.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def milvus_command() -> str:
    found = shutil.which("milvus-lite") or str(Path(sys.executable).parent / "milvus-lite")
    return found


@contextmanager
def milvus_server(data_dir: Path, log: Path) -> Iterator[str]:
    """Start ``milvus-lite server`` and yield its URI once it answers; stop it afterwards."""
    from pymilvus import MilvusClient

    from qa.index.milvus import GRPC_OPTIONS

    port = free_port()
    command = [
        milvus_command(),
        "server",
        "--data-dir",
        str(data_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"milvus-lite server exited: {log.read_text()[-2000:]}")
            try:
                client = MilvusClient(uri=uri, timeout=2, grpc_options=GRPC_OPTIONS)
                client.list_collections()
                client.close()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        yield uri
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def new_prefix() -> str:
    return f"t{uuid.uuid4().hex[:12]}"
