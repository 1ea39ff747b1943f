"""Every shell example in the README's fenced ``bash`` blocks, run as written against a live server.

The examples are parsed from README.md, so when the docs drift this test breaks. ``curl`` examples
run with the real curl against uvicorn on 127.0.0.1 and must answer the status their comment
documents (``# → 201``), else 200. ``qa`` examples run in a scratch directory (its own corpus, index
and database) and must exit 0; ``qa serve`` and ``make serve`` must become ready. Only examples that
need something outside this machine are skipped, each with its reason; any other new kind of
example fails until this file knows how to run it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from qa.answering.answerability import DEFAULT_ARTEFACT
from qa.api.app import create_app
from qa.config import Settings
from qa.pipeline import QAPipeline
from tests.conftest import DEV_QUESTIONS, REPO, make_settings
from tests.live import serve

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl (.ci/run installs it)"),
]

README = REPO / "README.md"
QA = Path(sys.executable).parent / "qa"


@dataclass(frozen=True)
class Example:
    line: int  # in README.md
    command: str
    comment: str

    @property
    def id(self) -> str:
        return f"README:{self.line}:{self.command.split()[0]}"


def _scan(line: str) -> tuple[str, str, bool]:
    """(command, comment, quote still open at the end); a ``#`` inside quotes is no comment."""
    quote = ""
    for i, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip(), line[i + 1 :].strip(), False
    return line.rstrip(), "", bool(quote)


def readme_examples(text: str) -> list[Example]:
    """Commands of the ``bash`` blocks: continuation lines (``\\`` or an open quote) joined."""
    examples: list[Example] = []
    for block in re.finditer(r"^```bash\n(.*?)^```", text, re.S | re.M):
        first_line = text.count("\n", 0, block.start(1)) + 1
        pending = ""
        start = 0
        for offset, raw in enumerate(block.group(1).splitlines()):
            if not pending and (not raw.strip() or raw.lstrip().startswith("#")):
                continue
            if not pending:
                start = first_line + offset
            pending = f"{pending} {raw.strip()}" if pending else raw.strip()
            if pending.endswith("\\"):
                pending = pending[:-1].rstrip()
                continue
            command, comment, open_quote = _scan(pending)
            if open_quote:
                continue
            examples.append(Example(start, command, comment))
            pending = ""
    return examples


EXAMPLES = readme_examples(README.read_text(encoding="utf-8"))


def skip_reason(example: Example) -> str | None:
    """Why an example cannot run here, or None. Only outside services and the suite itself."""
    command = example.command
    if command.startswith("docker "):
        return "needs a Docker engine (none runs on this machine or in CI)"
    if "QA_LLM__BASE_URL=" in command:
        url = re.search(r"QA_LLM__BASE_URL=(\S+)", command)
        return f"needs an OpenAI-compatible LLM server at {url.group(1) if url else '?'}"
    if "pydocs" in command:
        return "needs python3.11-doc and builds the 31-page documentation index (minutes); docs/evaluation.md"
    if command in ("make test", "make lint"):
        return f"`{command}` is the suite running this test (`make test` runs `make lint` first)"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# ---- the live server for curl ------------------------------------------------------------------------
@dataclass
class Live:
    url: str
    conversation_id: str
    message_id: str


@pytest.fixture(scope="module")
def live(real_settings: Settings, real_pipeline: QAPipeline) -> Iterator[Live]:
    with serve(create_app(real_settings, lambda _: real_pipeline)) as url:
        first = httpx.post(f"{url}/v1/chat", json={"message": "Who is Chun In-bum?"}, timeout=60).json()
        yield Live(url, first["conversation_id"], first["message_id"])


def test_the_readme_has_the_examples_this_file_runs() -> None:
    runnable = [e for e in EXAMPLES if skip_reason(e) is None]
    assert {e.command.split()[0] for e in runnable} == {"curl", ".venv/bin/qa", "make"}
    assert sum(e.command.startswith("curl ") for e in runnable) >= 10
    assert any(e.command == "make serve" for e in runnable), "the quick start is run, not skipped"
    assert all("\n" not in e.command and e.command.count("'") % 2 == 0 for e in EXAMPLES)
    print(
        "\nskipped README examples:",
        *(f"{e.id}: {skip_reason(e)}" for e in EXAMPLES if skip_reason(e)),
        sep="\n  ",
    )


CURL = [e for e in EXAMPLES if e.command.startswith("curl ")]


@pytest.mark.parametrize("example", CURL, ids=[e.id for e in CURL])
def test_curl_example_answers_the_documented_status(example: Example, live: Live) -> None:
    documented = re.search(r"→ (\d{3})\b", example.comment)
    expected = int(documented.group(1)) if documented else 200
    command = example.command.replace("localhost:8000", live.url.removeprefix("http://"))
    command = re.sub(r"\bc_(?:…|\w+)", live.conversation_id, command)
    command = command.replace("m_…", live.message_id)
    result = subprocess.run(
        ["bash", "-c", f"{command} --max-time 60 -o /dev/null -w '%{{http_code}}'"],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == str(expected), f"{example.command} → {result.stdout}, README says {expected}"


# ---- the command line ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A directory to run ``qa`` in: a corpus copy, the files the examples name, its own index."""
    from fpdf import FPDF

    root = tmp_path_factory.mktemp("readme")
    settings = make_settings(root)
    (settings.corpus_dir / "old-notes.md").write_text("# Old notes\n\nThe rocket flew twice.\n", "utf-8")
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(0, 8, "A quarterly report. The factory shipped four hundred crates of apples in May.")
    pdf.output(str(root / "report.pdf"))
    (root / "page.html").write_text(
        "<html><head><title>A page</title></head><body><article><h1>A page</h1>"
        "<p>The harbour in Vladivostok froze early that winter, and the ferries stopped.</p>"
        "<p>Fishing boats waited in the bay for the ice to break.</p></article></body></html>",
        "utf-8",
    )
    (root / "notes").mkdir()
    (root / "notes" / "trip.md").write_text("# Trip\n\nThe train left Khasan at dawn.\n", "utf-8")
    (root / "eval").mkdir()
    shutil.copy(DEV_QUESTIONS, root / "eval" / DEV_QUESTIONS.name)
    shutil.copytree(REPO / "eval" / "article", root / "eval" / "article")
    # `qa eval … --calibrate` writes the answerability model: a copy here, never the package's.
    shutil.copy(DEFAULT_ARTEFACT, root / "answerability.json")
    env = {
        **os.environ,
        "QA_CORPUS_DIR": str(settings.corpus_dir),
        "QA_INDEX_DIR": str(settings.index_dir),
        "QA_DATABASE_URL": settings.database_url,
        "QA_EMBEDDING__CACHE_DIR": str(REPO / "index" / "models"),  # the session's ONNX export
        "QA_ANSWERING__MODEL_PATH": str(root / "answerability.json"),
        "HF_HUB_OFFLINE": "1",
    }
    return root, env


def run_server(command: str, cwd: Path, env: dict[str, str], port: int, log: Path) -> None:
    """Start a server example, wait until ``/readyz`` says ready, stop it with SIGTERM."""
    with (
        log.open("w") as stderr,
        subprocess.Popen(
            ["bash", "-c", command], cwd=cwd, env=env, stderr=stderr, start_new_session=True
        ) as process,
    ):
        try:
            deadline = time.monotonic() + 300
            while True:
                assert process.poll() is None, f"exited with {process.returncode}: {log.read_text()[-2000:]}"
                assert time.monotonic() < deadline, "not ready within 300 s"
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.5)
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)


SHELL = [e for e in EXAMPLES if not e.command.startswith("curl ")]


@pytest.mark.parametrize("example", SHELL, ids=[e.id for e in SHELL])
def test_shell_example_runs(example: Example, workspace: tuple[Path, dict[str, str]]) -> None:
    reason = skip_reason(example)
    if reason:
        pytest.skip(reason)
    root, env = workspace
    port = free_port()
    command = example.command.replace("DOC_ID", "old-notes")
    command = re.sub(r"\[([^\]]*)\]", r"\1", command)  # optional parts: run them too
    command = command.replace("--port 8000", f"--port {port}")
    if command.startswith(".venv/bin/qa "):
        command = f"{QA} {command.removeprefix('.venv/bin/qa ')}"
        if command.split()[1] == "serve":
            run_server(command, root, env, port, root / f"server-{port}.log")
            return
        result = subprocess.run(
            ["bash", "-c", command], cwd=root, env=env, capture_output=True, text=True, timeout=600
        )
        assert result.returncode == 0, f"{example.command}\n{result.stderr[-2000:]}"
        assert "Traceback" not in result.stderr
        return
    if command == "make serve":
        run_server("make serve", REPO, {**env, "QA_PORT": str(port)}, port, root / f"make-serve-{port}.log")
        return
    raise AssertionError(f"this test does not know how to run the README example {example.command!r}")
