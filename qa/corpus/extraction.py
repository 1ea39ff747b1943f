"""Plain text out of HTML and PDF files.

The extracted text *is* the document: it is what ``/v1/documents/{doc_id}`` serves and what
citation offsets index into, so nothing downstream ever looks at the original bytes again.
Paragraphs are lines (as in ``qa.corpus.segmentation``), so extraction aims for one line per paragraph.
"""

from __future__ import annotations

import io
import json
import logging
import re
import warnings
from dataclasses import dataclass

_SPACES = re.compile(r"[ \t\u00a0]+")
_PARAGRAPH_END = tuple('.!?:;"”’)]')
# A PDF line shorter than this share of the page's longest line, ending a sentence, ends a paragraph.
_SHORT_LINE = 0.8


class ExtractionError(Exception):
    """The file holds no text we can use; the message says why, without a traceback."""


@dataclass(frozen=True, slots=True)
class Extracted:
    title: str
    text: str


def html_text(data: bytes) -> Extracted:
    """The main text of an HTML page (boilerplate, menus and scripts dropped) via trafilatura."""
    import trafilatura

    result = trafilatura.extract(
        data,
        output_format="json",
        with_metadata=True,
        include_comments=False,
        include_tables=True,
        favor_recall=True,
    )
    if not result:
        raise ExtractionError("has no main text")
    parsed = json.loads(result)
    title = str(parsed.get("title") or "").strip()
    lines = str(parsed.get("text") or "").splitlines()
    # The page's <h1> usually repeats its title: as a "sentence" it would out-score the content
    # for any question that names the topic, so it is kept as the title only.
    if lines and title and lines[0].strip().casefold() == title.casefold():
        lines = lines[1:]
    text = _tidy_lines(lines)
    if not text:
        raise ExtractionError("has no main text")
    return Extracted(title=title, text=text)


def pdf_text(data: bytes) -> Extracted:
    """The text of a PDF via pypdf, with its hard line breaks joined back into paragraphs."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    # pypdf logs and warns about every oddity it recovers from; our one-line reason is enough.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted:
                raise ExtractionError("is encrypted")
            pages = [page.extract_text() or "" for page in reader.pages]
            title = str(reader.metadata.title or "") if reader.metadata else ""
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise ExtractionError("is not a readable PDF") from exc
    paragraphs = [p for page in pages for p in reflow(page)]
    text = "\n".join(paragraphs)
    if not text:
        raise ExtractionError("has no extractable text (scanned images need OCR)")
    return Extracted(title=title.strip(), text=text)


def reflow(page: str) -> list[str]:
    """Join a PDF page's visual lines into paragraphs.

    A paragraph ends at a blank line, or after a line that ends a sentence and is clearly shorter
    than the page's full lines (the ragged last line of a paragraph). A line ending in a hyphen
    joins the next without a space, keeping the hyphen (it may be a real one: "Jong-un").
    """
    lines = [_SPACES.sub(" ", line).strip() for line in page.splitlines()]
    longest = max((len(line) for line in lines), default=0)
    paragraphs: list[str] = []
    current = ""
    for line in lines:
        if not line:
            if current:
                paragraphs.append(current)
            current = ""
            continue
        current = f"{current}{line}" if current.endswith("-") or not current else f"{current} {line}"
        if line.endswith(_PARAGRAPH_END) and len(line) < _SHORT_LINE * longest:
            paragraphs.append(current)
            current = ""
    if current:
        paragraphs.append(current)
    return paragraphs


def _tidy_lines(lines: list[str]) -> str:
    cleaned = (_SPACES.sub(" ", line).strip() for line in lines)
    return "\n".join(line for line in cleaned if line)
