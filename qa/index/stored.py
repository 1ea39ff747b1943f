"""A document with its sentence and chunk spans as one JSON value, for stores that keep no files."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, replace, dataclass

from qa.corpus.documents import Document


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """One document with its spans, as kept in the documents collection."""

    document: Document
    sentences: list[tuple[int, int, int, str, str]]  # (start, end, paragraph, kind, section)
    chunks: list[tuple[int, int, int, int, str]]  # (start, end, first sentence n, count, section)

    def to_json(self) -> str:
        return json.dumps(
            # Blocks only shape segmentation at build time; the sentences below carry what they told.
            {"document": asdict(replace(self.document, blocks=())), "sentences": self.sentences, "chunks": self.chunks},
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> StoredDocument:
        data = json.loads(text)
        return cls(
            Document(**{**data["document"], "blocks": ()}),
            [tuple(s) for s in data["sentences"]],
            [tuple(c) for c in data["chunks"]],
        )


def fingerprint(hashes: dict[str, str]) -> str:
    """The generation name of a set of documents (ids and content hashes)."""
    digest = hashlib.sha256(json.dumps(sorted(hashes.items())).encode()).hexdigest()[:16]
    return f"milvus-{len(hashes)}-{digest}"
