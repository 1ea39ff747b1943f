"""A document with its sentence and chunk spans as one JSON value, for stores that keep no files."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from qa.corpus.documents import Document


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """One document with its spans, as kept in the documents collection."""

    document: Document
    sentences: list[tuple[int, int, int]]  # (start, end, paragraph), n = position
    chunks: list[tuple[int, int, int, int]]  # (start, end, first sentence n, sentence count)

    def to_json(self) -> str:
        return json.dumps(
            {"document": asdict(self.document), "sentences": self.sentences, "chunks": self.chunks},
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> StoredDocument:
        data = json.loads(text)
        return cls(
            Document(**data["document"]),
            [tuple(s) for s in data["sentences"]],
            [tuple(c) for c in data["chunks"]],
        )


def fingerprint(hashes: dict[str, str]) -> str:
    """The generation name of a set of documents (ids and content hashes)."""
    digest = hashlib.sha256(json.dumps(sorted(hashes.items())).encode()).hexdigest()[:16]
    return f"milvus-{len(hashes)}-{digest}"
