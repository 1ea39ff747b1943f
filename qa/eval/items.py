"""Evaluation question files (JSON Lines) and where their gold evidence sits in the corpus.

Each line: ``{"id", "q", "category"?, "evidence": [str], "answer": [[alternatives]]}`` for an
answerable item, or ``{"id", "q", "unanswerable": true, "gap_evidence"?: str}``; ``doc_id``
optionally names the document the evidence is in. Evidence is matched verbatim, or after
collapsing runs of whitespace (HTML sources are re-flowed by extraction).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from qa.corpus.documents import Document
from qa.errors import InvalidInputError

# Unanswerable questions about something else entirely (as opposed to on-topic ones).
OFF_TOPIC = frozenset({"unanswerable_offtopic", "injection", "offtopic"})


class EvalItem(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    q: str
    category: str = "uncategorised"
    evidence: list[str] = []
    answer: list[list[str]] = []
    unanswerable: bool = False
    gap_evidence: str | None = None
    doc_id: str | None = None

    @property
    def off_topic(self) -> bool:
        return self.unanswerable and self.category in OFF_TOPIC


def load_items(path: Path) -> list[EvalItem]:
    """Parse the question file; a bad line is reported with its number."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidInputError(f"Cannot read {path}.") from exc
    items = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            items.append(EvalItem.model_validate(json.loads(line)))
        except (ValueError, ValidationError) as exc:
            raise InvalidInputError(f"{path}:{number} is not a valid eval item.") from exc
    return items


_SPACE = re.compile(r"\s+")


class EvidenceLocator:
    """Finds evidence strings in documents: verbatim first, else whitespace-collapsed."""

    def __init__(self, documents: dict[str, Document]) -> None:
        self._documents = documents
        self._collapsed: dict[str, tuple[str, list[int]]] = {}

    def _collapse(self, doc_id: str) -> tuple[str, list[int]]:
        if doc_id not in self._collapsed:
            text = self._documents[doc_id].text
            chars: list[str] = []
            offsets: list[int] = []  # original position of each collapsed character
            for match in re.finditer(r"\s+|\S+", text):
                piece = match.group()
                if piece[0].isspace():
                    chars.append(" ")
                    offsets.append(match.start())
                else:
                    chars.extend(piece)
                    offsets.extend(range(match.start(), match.end()))
            self._collapsed[doc_id] = ("".join(chars), offsets)
        return self._collapsed[doc_id]

    def spans(self, evidence: list[str], doc_id: str | None = None) -> list[tuple[str, int, int]]:
        """``(doc_id, start, end)`` of every occurrence's first match per document."""
        doc_ids = [doc_id] if doc_id in self._documents else list(self._documents)
        found = []
        for text in evidence:
            needle = _SPACE.sub(" ", text.strip())
            for did in doc_ids:
                start = self._documents[did].text.find(text)
                if start >= 0:
                    found.append((did, start, start + len(text)))
                    continue
                collapsed, offsets = self._collapse(did)
                position = collapsed.find(needle)
                if position >= 0 and needle:
                    found.append((did, offsets[position], offsets[position + len(needle) - 1] + 1))
        return found
