"""Loading source documents from the corpus directory.

A document's ``text`` is exactly what ``/v1/documents/{doc_id}`` serves and what every citation's
``start``/``end`` index into, so it is never altered after loading.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qa.corpus.blocks import Block
from qa.corpus.extraction import ExtractionError, html_text, pdf_text
from qa.corpus.markdown import markdown_blocks
from qa.corpus.plaintext import unwrap
from qa.errors import CorpusError

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf")
OnSkip = Callable[[Path, str], None]  # (file, reason) for a file left out of the index
_FRONT_MATTER = re.compile(r"\A---\r?\n(?P<body>.*?)\r?\n---\r?\n", re.DOTALL)
_TITLE_FIELD = re.compile(r"^title:\s*(?P<title>.+?)\s*$", re.MULTILINE)
_MAX_TITLE_CHARS = 100


@dataclass(frozen=True, slots=True)
class Document:
    doc_id: str
    title: str
    text: str
    source: str  # file name inside the corpus directory
    sha256: str
    # Headings, paragraphs, list items and code blocks of a structured file (HTML, Markdown,
    # PDF); empty for plain text, whose lines are its paragraphs. Used while indexing only.
    blocks: tuple[Block, ...] = ()


def parse_document(doc_id: str, raw: str, source: str, *, markdown: bool = False) -> Document:
    """Build a document from a file's text: front matter is removed, the title found.

    With ``markdown`` the text is the Markdown's reading text, in blocks (``qa.corpus.markdown``);
    plain text has its hard-wrapped paragraphs joined (``qa.corpus.plaintext``).
    """
    title = ""
    text = raw
    match = _FRONT_MATTER.match(raw)
    if match:
        field = _TITLE_FIELD.search(match.group("body"))
        title = field.group("title").strip("\"'") if field else ""
        text = raw[match.end() :]
    if not title:
        title = _title_from_first_line(text)
    sha = hashlib.sha256(raw.encode("utf-8")).hexdigest()
    blocks: tuple[Block, ...] = ()
    if markdown:
        built = markdown_blocks(text, title)
        text, blocks = built.text(), tuple(built.blocks)
    else:
        text = unwrap(text)  # hard-wrapped paragraphs back on one line each
    return Document(doc_id=doc_id, title=title or doc_id, text=text, source=source, sha256=sha, blocks=blocks)


def _title_from_first_line(text: str) -> str:
    """A Markdown heading or the opening of the first line, cut at a word boundary."""
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    title = first_line.lstrip("# ").strip()
    if len(title) <= _MAX_TITLE_CHARS:
        return title
    cut = title[:_MAX_TITLE_CHARS].rsplit(" ", 1)[0]
    return cut.rstrip(",;:—- ") + "…"


def corpus_files(corpus_dir: Path) -> list[Path]:
    """The supported files of the corpus, sorted so builds are reproducible."""
    if not corpus_dir.is_dir():
        raise CorpusError(f"Corpus directory {corpus_dir} does not exist; set QA_CORPUS_DIR.")
    return sorted(p for p in corpus_dir.iterdir() if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES)


def read_document(path: Path, doc_id: str | None = None, *, kind: str = "Corpus file") -> Document:
    """One corpus file as a document: text files as they are, HTML and PDF as extracted text.

    Any problem is a ``CorpusError`` naming the file (as ``kind``: "File" for one not yet in
    the corpus) and what is wrong with it.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"{kind} {path} cannot be read; fix or remove it.") from exc
    doc_id = doc_id or path.stem
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm", ".pdf"):
        try:
            extracted = html_text(data) if suffix != ".pdf" else pdf_text(data)
        except ExtractionError as exc:
            raise CorpusError(f"{kind} {path} {exc}; fix or remove it.") from exc
        title = extracted.title or _title_from_first_line(extracted.text)
        sha = hashlib.sha256(data).hexdigest()
        return Document(
            doc_id=doc_id,
            title=title or doc_id,
            text=extracted.text,
            source=path.name,
            sha256=sha,
            blocks=extracted.blocks,
        )
    try:
        raw = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{kind} {path} is not UTF-8 text; fix or remove it.") from exc
    return parse_document(doc_id, raw, path.name, markdown=suffix == ".md")


def load_corpus(corpus_dir: Path, on_skip: OnSkip | None = None) -> list[Document]:
    """Read every supported file; an unreadable one is a ``CorpusError`` naming the file.

    With ``on_skip``, a bad file is reported to it and left out instead (``qa index`` commands
    do that, so one broken file never aborts a run over many).
    """
    documents: list[Document] = []
    seen: set[str] = set()
    for path in corpus_files(corpus_dir):
        try:
            doc_id = path.stem
            if doc_id in seen:
                raise CorpusError(f"Two corpus files share the id {doc_id!r}; rename one of them.")
            document = read_document(path, doc_id)
            if not document.text.strip():
                raise CorpusError(f"Corpus file {path} has no text; fix or remove it.")
        except CorpusError as exc:
            if on_skip is None:
                raise
            on_skip(path, exc.message)
            continue
        seen.add(doc_id)
        documents.append(document)
    if not documents:
        raise CorpusError(
            f"Corpus directory {corpus_dir} has no usable {'/'.join(SUPPORTED_SUFFIXES)} files."
        )
    return documents


def corpus_checksums(corpus_dir: Path) -> dict[str, str]:
    """``{file name: sha256}`` of the corpus, cheap enough to check at every start-up."""
    sums: dict[str, str] = {}
    for path in corpus_files(corpus_dir):
        try:
            sums[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            raise CorpusError(f"Corpus file {path} cannot be read; fix or remove it.") from exc
    return sums
