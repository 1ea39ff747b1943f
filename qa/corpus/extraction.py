"""Structured text out of HTML and PDF files.

The extracted text *is* the document: it is what ``/v1/documents/{doc_id}`` serves and what
citation offsets index into, so nothing downstream ever looks at the original bytes again.
Each block (heading, paragraph, list item) is one line; a code block keeps its own lines.
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass

from qa.corpus.blocks import Block
from qa.corpus.html import structured_html
from qa.corpus.pdf import page_lines, pdf_blocks


class ExtractionError(Exception):
    """The file holds no text we can use; the message says why, without a traceback."""


@dataclass(frozen=True, slots=True)
class Extracted:
    title: str
    text: str
    blocks: tuple[Block, ...] = ()


def html_text(data: bytes) -> Extracted:
    """The main content of an HTML page as structured text (see ``qa.corpus.html``)."""
    title, text, built = structured_html(data)
    if not text.strip():
        raise ExtractionError("has no main text")
    return Extracted(title=title, text=text, blocks=tuple(built.blocks))


def pdf_text(data: bytes) -> Extracted:
    """The text of a PDF via pypdf: lines reflowed into paragraphs, headings, list items, code.

    Structure comes from what the page shows: a line in a clearly larger font than the body
    is a heading, a line in a monospaced font is code (kept line by line), a line opening with
    a bullet or number starts a list item, and a vertical gap or a short line ending a
    sentence ends a paragraph.
    """
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
            pages = [page_lines(page) for page in reader.pages]
            title = str(reader.metadata.title or "") if reader.metadata else ""
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise ExtractionError("is not a readable PDF") from exc
    built = pdf_blocks(pages)
    text = built.text()
    if not text.strip():
        raise ExtractionError("has no extractable text (scanned images need OCR)")
    return Extracted(title=title.strip(), text=text, blocks=tuple(built.blocks))
