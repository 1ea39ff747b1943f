"""The ``qa`` command line: build the index, ask, evaluate, serve, migrate the database.

One Typer app in one module so `qa --help` and the code list the same commands in the same order;
each command is a thin wrapper over the package (index, service, eval, storage).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

from qa.config import Settings, get_settings
from qa.errors import InvalidInputError, QAError

# Plain click help: typer's rich help prints a type such as ``<bool>`` beside every flag.
HELP_STYLE = None
app = typer.Typer(
    help="Question answering over a document corpus, with exact citations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=HELP_STYLE,
)
index_app = typer.Typer(
    help="Build and inspect the search index.", no_args_is_help=True, rich_markup_mode=HELP_STYLE
)
app.add_typer(index_app, name="index")
feedback_app = typer.Typer(
    help="Reader feedback on answers.", no_args_is_help=True, rich_markup_mode=HELP_STYLE
)
app.add_typer(feedback_app, name="feedback")
db_app = typer.Typer(help="The conversation database (QA_DATABASE_URL).", no_args_is_help=True)
app.add_typer(db_app, name="db")
out = Console()
err = Console(stderr=True)


@app.callback()
def main(ctx: typer.Context) -> None:
    """Question answering over a document corpus, with exact citations."""
    # Settings are read first, so a bad QA_* value is one line naming it, whatever the command.
    with user_errors():
        get_settings()
    if ctx.invoked_subcommand != "serve":  # the server logs these itself (JSON lines)
        _show_build_notices()


class _StderrLines(logging.Handler):
    """Log records as plain lines on whatever ``sys.stderr`` is when they are emitted."""

    def emit(self, record: logging.LogRecord) -> None:
        err.print(record.getMessage(), highlight=False, markup=False, soft_wrap=True)


def _show_build_notices() -> None:
    """Implicit index builds and the one-off ONNX export announce themselves as plain lines."""
    for name in ("qa.index", "qa.embedding"):
        logger = logging.getLogger(name)
        if not any(isinstance(h, _StderrLines) for h in logger.handlers):
            logger.addHandler(_StderrLines())
            logger.setLevel(logging.INFO)


def fail(message: str) -> typer.Exit:
    """Print one readable line on stderr and return the exit to raise."""
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code=1)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn our errors (and a Ctrl-C) into one line instead of a traceback."""
    try:
        yield
    except QAError as exc:
        raise fail(exc.message) from None
    except KeyboardInterrupt:
        raise fail("interrupted") from None


@contextmanager
def progress_bar() -> Iterator[Callable[[str, int, int], None] | None]:
    """A rich progress bar for index builds, only when stderr is a terminal."""
    if not err.is_terminal:
        yield None
        return
    tasks: dict[str, TaskID] = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=err) as bar:

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield report


def _load_pipeline(settings: Settings) -> Any:
    from qa.pipeline import QAPipeline  # heavy imports only for commands that need them

    with progress_bar() as report:
        return QAPipeline.load(settings, progress=report)


async def _answer(settings: Settings, question: str) -> Any:
    """One turn through the chat service, as on every other surface: stored, counted, logged."""
    from qa.service.chat import CLI_OWNER, ChatTurn
    from qa.service.runtime import Runtime

    runtime = Runtime(settings)
    async with runtime.running(_load_pipeline):
        return await runtime.chat.answer(ChatTurn(question, surface="cli", owner=CLI_OWNER))


def _report_skip(name: str, reason: str) -> None:
    # Reasons from the corpus loader already name the file; soft wrap keeps paths greppable.
    line = reason if name in reason else f"{name}: {reason}"
    err.print(f"[yellow]skipped[/] {escape(line)}", highlight=False, soft_wrap=True)


@index_app.command("build")
def index_build() -> None:
    """Rebuild the index from the corpus directory (QA_CORPUS_DIR); bad files are skipped.

    With QA_INDEX__BACKEND=milvus, fill Milvus instead: new or changed documents are embedded and
    stored; documents already there (e.g. uploaded over HTTP) stay, indexed again from their stored
    text when an older format version, another model or chunking indexed them.
    """
    from qa.embedding.factory import make_build_embedder
    from qa.index import build_index, read_manifest

    settings = get_settings()
    with user_errors():
        embedder = make_build_embedder(settings)

        def skip(path: Path, reason: str) -> None:
            _report_skip(path.name, reason)

        if settings.index.backend == "milvus":
            from qa.index.milvus_search import build_milvus

            with progress_bar() as report:
                done = build_milvus(settings, embedder, report, on_skip=skip)
            err.print(
                f"Milvus at {settings.milvus.uri} ({settings.milvus.collection_prefix}_*): "
                f"{done['documents']} documents, {done['written']} written ({done['embedded']} embedded), "
                f"{done['unchanged']} unchanged; {done['reindexed']} stored documents re-indexed.",
                highlight=False,
                soft_wrap=True,
            )
            return

        with progress_bar() as report:
            path = build_index(settings, embedder, report, on_skip=skip)
        manifest = read_manifest(settings.index_dir)
        counts = manifest.counts
    err.print(
        f"Built index {path.name}: {counts.documents} documents, "
        f"{counts.sentences} sentences, {counts.chunks} chunks"
        f"{_skipped_note(len(manifest.skipped))}.",
        highlight=False,
    )


def _skipped_note(count: int) -> str:
    return f"; {count} file{'s' if count != 1 else ''} skipped" if count else ""


def _ingest_summary(report: Any) -> str:
    parts = [
        f"{len(report.added)} added",
        f"{len(report.replaced)} replaced",
        f"{len(report.unchanged)} unchanged",
        f"{len(report.removed)} removed",
        f"{len(report.skipped)} skipped",
    ]
    return (
        f"{', '.join(parts)}; embedded {report.embedded_documents} documents, "
        f"reused vectors of {report.reused_documents}."
    )


@index_app.command("add")
def index_add(
    paths: Annotated[list[Path], typer.Argument(help="Files or directories (.txt .md .html .htm .pdf).")],
) -> None:
    """Add or replace documents: files are copied into the corpus, unchanged ones not re-embedded."""
    from qa.embedding.factory import make_build_embedder
    from qa.index.ingest import add_documents

    settings = get_settings()
    with user_errors():
        embedder = make_build_embedder(settings)
        with progress_bar() as bar:
            report = add_documents(settings, embedder, paths, bar or _quiet, on_skip=_report_skip)
    err.print(_ingest_summary(report), highlight=False, soft_wrap=True)
    if not (report.added or report.replaced or report.unchanged):
        raise fail("nothing was added: none of the given files could be used.")


@index_app.command("remove")
def index_remove(
    doc_id: Annotated[str, typer.Argument(help="The document id (its file name stem).")],
) -> None:
    """Remove a document from the corpus and the index."""
    from qa.embedding.factory import make_build_embedder
    from qa.index.ingest import remove_document

    settings = get_settings()
    with user_errors():
        embedder = make_build_embedder(settings)
        with progress_bar() as bar:
            report = remove_document(settings, embedder, doc_id, bar or _quiet, on_skip=_report_skip)
    err.print(_ingest_summary(report), highlight=False, soft_wrap=True)


def _quiet(stage: str, done: int, total: int) -> None:
    return None


@index_app.command("status")
def index_status() -> None:
    """Say whether the index exists and matches the corpus and settings."""
    from qa.index import read_manifest, staleness

    settings = get_settings()
    if settings.index.backend == "milvus":
        from qa.index.milvus import MilvusIndex

        with user_errors():
            milvus = MilvusIndex(settings)
            try:
                count = len(milvus.stored_stamps())
                stale = len(milvus.stale_documents())
                generation = milvus.fingerprint()
            finally:
                milvus.close()
        state = (
            "up to date"
            if not stale
            else f"stale ({stale} indexed under another format version, embedding model or chunking)"
        )
        out.print(
            f"Milvus at {settings.milvus.uri}: {count} documents ({generation}), {state}.",
            highlight=False,
            soft_wrap=True,
        )
        return
    with user_errors():
        manifest = read_manifest(settings.index_dir)
        reason = staleness(settings)
    state = "up to date" if reason is None else f"stale ({reason})"
    out.print(f"Index built {manifest.built_at}: {state}.", highlight=False)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question to answer.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer object.")] = False,
) -> None:
    """Answer one question from the corpus, with citations."""
    settings = get_settings()
    with user_errors():
        if not question.strip():  # before loading (or building) anything
            raise InvalidInputError("The message is empty; ask a question about the documents.")
        answer = asyncio.run(_answer(settings, question))
    if as_json:
        sys.stdout.write(answer.model_dump_json(indent=2) + "\n")
        return
    if answer.fallback_reason:
        err.print(f"(LLM unavailable: {answer.fallback_reason}; extractive answer)", highlight=False)
    style = "bold" if answer.answerable else "bold yellow"
    out.print(answer.answer, style=style, highlight=False, markup=False)
    for citation in answer.citations:
        out.print(
            f"[{citation.id}] {citation.doc_id}{f' › {citation.section}' if citation.section else ''}"
            f" {citation.start}-{citation.end}: {citation.quote}",
            highlight=False,
            markup=False,
        )


@app.command("eval")
def run_eval(
    file: Annotated[Path, typer.Argument(help="JSONL question file.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print figures, intervals and items as JSON.")
    ] = False,
    calibrate: Annotated[
        bool, typer.Option("--calibrate", help="Fit the answerability model on FILE (a training split).")
    ] = False,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write the precision–coverage curve as PNG.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Figures only, no per-item table.")] = False,
) -> None:
    """Answer accuracy, citation hits, refusals per category with 95% intervals; optionally re-fit."""
    from qa.eval import evaluate, load_items
    from qa.eval.calibrate import refit
    from qa.eval.console import print_curve, print_figures, print_items
    from qa.eval.curve import plot as plot_curve
    from qa.eval.curve import precision_coverage

    settings = get_settings()
    if calibrate:
        # The signals do not depend on the model being fitted, so calibration runs on the plain
        # threshold decision (and works when the shipped artefact no longer matches).
        settings = settings.model_copy(
            update={
                "answering": settings.answering.model_copy(update={"decision": "threshold"}),
                "retrieval": settings.retrieval.model_copy(update={"min_answer_score": 0.0}),
            }
        )
    with user_errors():
        items = load_items(file)
        report = evaluate(_load_pipeline(settings), items)
        artefact_path = refit(report.items, file, settings.answering.model_path) if calibrate else None
    if plot is not None:
        plot_curve(precision_coverage(report.items), plot, f"{file.name}: answerability")
    if as_json:
        payload = report.to_json()
        if artefact_path is not None:
            payload["artefact"] = str(artefact_path)
        sys.stdout.write(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
        return
    if not quiet:
        print_items(report, out)
    print_figures(report, out)
    print_curve(report, out)
    if artefact_path is not None:
        out.print(f"Wrote the answerability model to {artefact_path}", highlight=False)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (QA_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (QA_PORT).")] = None,
) -> None:
    """Serve the HTTP API (and, when configured, the other surfaces)."""
    import uvicorn

    from qa.api.observability import logging_config
    from qa.api.server import server_options

    settings = get_settings()
    _refuse_outdated_database(settings)
    uvicorn.run(
        "qa.api.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        log_level="info",
        log_config=logging_config(settings.observability),
        access_log=False,  # ours (qa.access) carries the request id
        timeout_graceful_shutdown=30,  # SIGTERM: in-flight answers finish, then the store closes
        **server_options(settings),  # trusted proxies, header limits, slow-client timeouts
    )


def _refuse_outdated_database(settings: Settings) -> None:
    """PostgreSQL: exit with one line unless the schema is current (SQLite upgrades itself).

    An unreachable server is not refused here: the service starts and answers without stored
    history until the database is back (docs/operations.md).
    """
    from qa.storage.factory import database_state
    from qa.storage.sql import engine_url

    with user_errors():
        if engine_url(settings.database_url).get_backend_name() != "postgresql":
            return
        try:
            state = asyncio.run(database_state(settings.database_url))
        except QAError as exc:
            err.print(
                f"warning: {exc.message}; starting without stored history", highlight=False, soft_wrap=True
            )
            return
    if not state.up_to_date:
        raise fail(f"the database is not migrated ({state.describe()}): run `qa db upgrade` first")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to this version (safe to run again)."""
    from qa.storage.factory import upgrade_database
    from qa.storage.sql import redacted

    settings = get_settings()
    with user_errors():
        before, after = asyncio.run(upgrade_database(settings.database_url))
    where = redacted(settings.database_url)
    if before == after:
        err.print(f"{where}: already at schema revision {after}.", highlight=False, soft_wrap=True)
    else:
        err.print(f"{where}: schema revision {before or 'none'} -> {after}.", highlight=False, soft_wrap=True)


@db_app.command("status")
def db_status() -> None:
    """Print the database's schema revision and whether it is current; exit 1 when not."""
    from qa.storage.factory import database_state
    from qa.storage.sql import redacted

    settings = get_settings()
    with user_errors():
        state = asyncio.run(database_state(settings.database_url))
    verdict = "up to date" if state.up_to_date else "needs `qa db upgrade`"
    out.print(
        f"{redacted(settings.database_url)}: {state.describe()} ({verdict})", highlight=False, soft_wrap=True
    )
    if not state.up_to_date:
        raise typer.Exit(code=1)


@feedback_app.command("export")
def feedback_export(
    fmt: Annotated[str, typer.Option("--format", help="csv or jsonl.")] = "jsonl",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File (default: stdout).")] = None,
) -> None:
    """Write all feedback, with the question and answer it rates, as CSV or JSON Lines."""
    from qa.storage.export import export_feedback

    if fmt not in ("csv", "jsonl"):
        raise fail("--format must be csv or jsonl.")
    settings = get_settings()
    with user_errors():
        count = export_feedback(settings.database_url, fmt, output)
    err.print(f"Exported {count} feedback records.", highlight=False)


if __name__ == "__main__":
    app()
