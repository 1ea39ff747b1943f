"""Vectors of the current FAISS build, looked up by document content, for incremental builds."""

from __future__ import annotations

from qa.config import Settings
from qa.corpus.documents import Document
from qa.embedding.base import Vectors
from qa.errors import NotReadyError
from qa.index.backend import VECTOR_SETS
from qa.index.load import SearchIndex, load_index
from qa.index.manifest import read_manifest, settings_fingerprint


class VectorReuse:
    """Vectors of the current build, looked up by document content, for incremental builds.

    Sentences and chunks are a pure function of a document's text and the chunking settings
    (both checked), so a document whose content hash is unchanged has exactly the sentences and
    chunks it had, and its vectors can be copied instead of recomputed.
    """

    def __init__(self, index: SearchIndex | None) -> None:
        self._index = index
        self._sentences: dict[str, list[int]] = {}
        self._chunks: dict[str, list[int]] = {}
        self._by_hash: dict[str, Document] = {}
        if index is None:
            return
        for document in index.documents.values():
            self._by_hash[document.sha256] = document
        for sentence in index.sentences:
            self._sentences.setdefault(sentence.doc_id, []).append(sentence.sentence_id)
        for position, chunk in enumerate(index.chunks):
            self._chunks.setdefault(chunk.doc_id, []).append(position)

    @classmethod
    def of_current(cls, settings: Settings, dimension: int) -> VectorReuse:
        """The current build if it was made with the same model and chunking, else nothing."""
        try:
            manifest = read_manifest(settings.index_dir)
            if manifest.fingerprint() != settings_fingerprint(settings) or manifest.dimension != dimension:
                return cls(None)
            return cls(load_index(settings.index_dir, settings.index))
        except NotReadyError:  # missing or corrupt: build from scratch
            return cls(None)

    def vectors(self, document: Document, sentences: int, chunks: int) -> dict[str, Vectors] | None:
        """Every vector set's rows for an unchanged document, or None when it must be embedded."""
        old = self._by_hash.get(document.sha256)
        if self._index is None or old is None or old.text != document.text:
            return None
        sentence_ids = self._sentences.get(old.doc_id, [])
        chunk_ids = self._chunks.get(old.doc_id, [])
        if len(sentence_ids) != sentences or len(chunk_ids) != chunks:
            return None
        return {
            name: self._index.search.vectors(name, chunk_ids if name == "chunks" else sentence_ids)
            for name in VECTOR_SETS
        }
