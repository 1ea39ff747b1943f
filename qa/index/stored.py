"""A document with its sentence and chunk spans as one JSON value, for stores that keep no files,
and the index stamp that says which content, format version, model and chunking its rows hold."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace
from itertools import groupby
from typing import cast

from qa.config import Settings
from qa.corpus.blocks import Block, BlockKind
from qa.corpus.chunking import Chunk, Sentence
from qa.corpus.documents import Document
from qa.index.manifest import settings_fingerprint

STAMP_CHARS = 64  # the width of the documents collection's ``sha256`` field, which holds stamps
TAG_CHARS = 16


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """One document with its spans, as kept in the documents collection."""

    document: Document
    sentences: list[tuple[int, int, int, str, str]]  # (start, end, paragraph, kind, section)
    chunks: list[tuple[int, int, int, int, str]]  # (start, end, first sentence n, count, section)

    @classmethod
    def of(cls, document: Document, sentences: list[Sentence], chunks: list[Chunk]) -> StoredDocument:
        """``document`` with the sentences and chunks split from it alone (numbered from 0)."""
        return cls(
            document,
            [(s.start, s.end, s.paragraph, s.kind, s.section) for s in sentences],
            [(c.start, c.end, c.sentence_ids[0], len(c.sentence_ids), c.section) for c in chunks],
        )

    def to_json(self) -> str:
        return json.dumps(
            # Blocks only shape segmentation at build time; the sentences below carry what they told.
            {
                "document": asdict(replace(self.document, blocks=())),
                "sentences": self.sentences,
                "chunks": self.chunks,
            },
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

    def to_split_again(self) -> Document:
        """The document with the blocks its stored sentences were split from, to split it anew.

        Blocks are not stored, but each paragraph of sentences was split from one block, and a
        block has no whitespace at its edges, so the span from a paragraph's first sentence to its
        last, with their kind and section, is that block. Plain text (no sentence with a kind or a
        section) has no blocks: its lines are its paragraphs.
        """
        if all(kind == "text" and not section for _, _, _, kind, section in self.sentences):
            return replace(self.document, blocks=())
        blocks = []
        for _, group in groupby(self.sentences, key=lambda sentence: sentence[2]):
            members = list(group)
            start, _, _, kind, section = members[0]
            blocks.append(Block(start, members[-1][1], cast(BlockKind, kind), section))
        return replace(self.document, blocks=tuple(blocks))


def fingerprint(stamps: dict[str, str]) -> str:
    """The generation name of a set of documents (ids and index stamps)."""
    digest = hashlib.sha256(json.dumps(sorted(stamps.items())).encode()).hexdigest()[:16]
    return f"milvus-{len(stamps)}-{digest}"


def index_tag(settings: Settings) -> str:
    """What stored rows depend on besides the document's content, in ``TAG_CHARS`` hex digits:
    the index format version, the embedding model and the chunking (what a FAISS manifest
    records, ``settings_fingerprint``)."""
    recorded = json.dumps(settings_fingerprint(settings), sort_keys=True)
    return hashlib.sha256(recorded.encode()).hexdigest()[:TAG_CHARS]


def index_stamp(content_sha256: str, tag: str) -> str:
    """The stamp stored with a document's rows: its content hash cut to 48 hex digits (192 bits
    still tell contents apart), then the ``index_tag`` it was indexed under.

    Rows written before stamps existed hold the bare 64-digit content hash, whose last digits
    match no tag, so they read as indexed under another format.
    """
    return content_sha256[: STAMP_CHARS - TAG_CHARS] + tag


def is_current(stamp: str, tag: str) -> bool:
    """Whether a stored stamp was written under ``tag`` (this format version, model and chunking)."""
    return len(stamp) == STAMP_CHARS and stamp.endswith(tag)
