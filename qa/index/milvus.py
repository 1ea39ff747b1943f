"""The index in Milvus: documents, sentences and chunks shared by every replica.

Three collections (``<prefix>_documents``, ``<prefix>_sentences``, ``<prefix>_chunks``):

- documents: each document's text with its sentence and chunk spans, as JSON split into parts
  (a VARCHAR holds at most 64 KiB), so any replica can load every span and verify every
  citation without local files. Written *last* when a document is added and deleted *first*
  when it is removed, so a document row means its vectors are there.
- sentences: the sentence vector and the in-context vector of every sentence.
- chunks: the chunk vector, and the chunk's BM25 tokens in a VARCHAR that Milvus's built-in
  BM25 function turns into a sparse vector. The tokens are ours (``qa.index.lexical.tokenize``:
  stop words out, stemmed), joined by spaces and split again by a whitespace analyzer, so
  both backends rank chunks by BM25 over the very same terms.

Row keys are ``<doc_id>:<n>`` (n counts within the document), so adding or removing one document
touches only its own rows. A loaded ``SearchIndex`` numbers sentences and chunks globally (as a
FAISS build does) and maps Milvus keys to those ids; the documents' fingerprint (ids and content
hashes) is its ``generation``, which replicas poll to pick up changes made by any of them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import numpy as np

from qa.config import Settings
from qa.corpus.chunking import Chunk, Sentence, build_chunks, context_texts, search_text, sentences_of
from qa.corpus.documents import Document
from qa.embedding.base import Embedder, Vectors
from qa.errors import IndexMissingError, NotReadyError
from qa.index.lexical import tokenize
from qa.index.stored import StoredDocument, fingerprint

# gRPC keepalive pings off: pymilvus pings every 10 s by default, which Milvus Lite's server
# answers after a few idle minutes with GOAWAY "too_many_pings", killing the shared connection
# (seen here). Calls carry their own timeouts instead.
GRPC_OPTIONS = {"grpc.keepalive_time_ms": 2**31 - 1, "grpc.keepalive_permit_without_calls": 0}
PART_CHARS = 15_000  # UTF-8 needs at most 4 bytes a character: 60 kB < the 64 KiB VARCHAR limit
_ITERATOR_LOG = "pymilvus.client.iterator.query_iterator"
MAX_KEY = 1024
INSERT_BATCH = 256
_DUMMY_DIM = 2  # Milvus wants a vector field in every collection, even the documents one


class MilvusUnavailableError(NotReadyError):
    """The Milvus server cannot be reached or refused an operation."""

    code = "search_unavailable"
    public_message = "The search service is unavailable right now; try again shortly."


def _literal(value: str) -> str:
    return json.dumps(value)  # a double-quoted string with escapes, as Milvus expressions take


class MilvusIndex:
    """The three collections behind one client: create, write and remove documents, read back."""

    def __init__(self, settings: Settings, dimension: int | None = None) -> None:
        from pymilvus import MilvusClient

        # Milvus Lite's server hands query iterators no MVCC timestamp; pymilvus then warns on
        # every iterator and uses its own clock, which is what we want anyway. (Set after the
        # import: pymilvus configures its loggers when imported.)
        logging.getLogger(_ITERATOR_LOG).setLevel(logging.ERROR)
        self.settings = settings
        milvus = settings.milvus
        prefix = milvus.collection_prefix
        self.documents = f"{prefix}_documents"
        self.sentences = f"{prefix}_sentences"
        self.chunks = f"{prefix}_chunks"
        token = milvus.token.get_secret_value() if milvus.token else ""
        try:
            self.client = MilvusClient(
                uri=milvus.uri, token=token, timeout=milvus.timeout_s, grpc_options=GRPC_OPTIONS
            )
        except Exception as exc:  # pymilvus raises its own untyped connection errors
            raise MilvusUnavailableError(f"Cannot reach Milvus at {milvus.uri}: {_short(exc)}") from exc
        self.dimension = dimension

    def close(self) -> None:
        self.client.close()

    # -- schema ---------------------------------------------------------------------------
    def exists(self) -> bool:
        return all(self.client.has_collection(n) for n in (self.documents, self.sentences, self.chunks))

    def create(self, dimension: int) -> None:
        """Create any missing collection (idempotent)."""
        from pymilvus import DataType, Function, FunctionType

        self.dimension = dimension
        client = self.client

        def base() -> Any:
            schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=MAX_KEY)
            schema.add_field("doc_id", DataType.VARCHAR, max_length=MAX_KEY)
            return schema

        def dense(params: Any, field: str) -> None:
            # Exact search like FAISS's flat index; a cluster operator can switch to HNSW.
            params.add_index(field_name=field, index_type="FLAT", metric_type="IP")

        if not client.has_collection(self.documents):
            schema = base()
            schema.add_field("sha256", DataType.VARCHAR, max_length=64)
            schema.add_field("part", DataType.INT64)
            schema.add_field("parts", DataType.INT64)
            schema.add_field("payload", DataType.VARCHAR, max_length=65_535)
            schema.add_field("dummy", DataType.FLOAT_VECTOR, dim=_DUMMY_DIM)
            params = client.prepare_index_params()
            dense(params, "dummy")
            client.create_collection(
                self.documents, schema=schema, index_params=params, consistency_level="Strong"
            )
        if not client.has_collection(self.sentences):
            schema = base()
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
            schema.add_field("context", DataType.FLOAT_VECTOR, dim=dimension)
            params = client.prepare_index_params()
            dense(params, "vector")
            dense(params, "context")
            client.create_collection(
                self.sentences, schema=schema, index_params=params, consistency_level="Strong"
            )
        if not client.has_collection(self.chunks):
            schema = base()
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
            schema.add_field(
                "terms",
                DataType.VARCHAR,
                max_length=65_535,
                enable_analyzer=True,
                analyzer_params={"tokenizer": "standard"},
            )
            schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
            schema.add_function(
                Function(
                    name="chunk_bm25",
                    function_type=FunctionType.BM25,
                    input_field_names=["terms"],
                    output_field_names=["sparse"],
                )
            )
            params = client.prepare_index_params()
            dense(params, "vector")
            # k1 and b as bm25s's defaults, so both backends score alike.
            params.add_index(
                field_name="sparse",
                index_type="SPARSE_INVERTED_INDEX",
                metric_type="BM25",
                params={"bm25_k1": 1.5, "bm25_b": 0.75},
            )
            client.create_collection(
                self.chunks, schema=schema, index_params=params, consistency_level="Strong"
            )

    def drop(self) -> None:
        for name in (self.documents, self.sentences, self.chunks):
            self.client.drop_collection(name)

    # -- writing --------------------------------------------------------------------------
    def stored_hashes(self) -> dict[str, str]:
        """doc_id -> sha256 of every document whose rows are complete."""
        if not self.client.has_collection(self.documents):
            return {}
        return {doc_id: sha for doc_id, (sha, _) in self._complete_documents(payload=False).items()}

    def add_document(
        self, document: Document, embedder: Embedder, vectors: dict[str, Vectors] | None = None
    ) -> int:
        """Embed and store one document (replacing any same-id one); returns its sentence count.

        ``vectors`` (sentences, contexts, chunks) skips embedding: copied from a FAISS build.
        """
        if not document.text.strip():
            raise ValueError("a document without text")
        self.create(embedder.dimension)
        sentences = sentences_of([document])
        chunking = self.settings.chunking
        chunks = build_chunks([document], sentences, chunking.sentences_per_chunk, chunking.overlap)
        if vectors is None:
            in_context = context_texts(sentences, document.title)
            texts = [s.text for s in sentences] + in_context + [search_text(c) for c in chunks]
            embedded = _embed(embedder, texts, self.settings.embedding.batch_size * 16)
            n = len(sentences)
            vectors = {
                "sentences": embedded[:n],
                "contexts": embedded[n : 2 * n],
                "chunks": embedded[2 * n :],
            }
        contexts, chunk_vectors = vectors["contexts"], vectors["chunks"]
        sentence_vectors = vectors["sentences"]
        doc_id = document.doc_id
        self.remove_document(doc_id)
        sentence_rows = [
            {
                "pk": f"{doc_id}:{n}",
                "doc_id": doc_id,
                "vector": sentence_vectors[n].tolist(),
                "context": contexts[n].tolist(),
            }
            for n in range(len(sentences))
        ]
        chunk_rows = [
            {
                "pk": chunk.chunk_id,
                "doc_id": doc_id,
                "vector": chunk_vectors[n].tolist(),
                "terms": " ".join(tokenize([search_text(chunk)])[0])[:60_000],
            }
            for n, chunk in enumerate(chunks)
        ]
        self._insert(self.sentences, sentence_rows)
        self._insert(self.chunks, chunk_rows)
        stored = StoredDocument(
            document,
            [(s.start, s.end, s.paragraph, s.kind, s.section) for s in sentences],
            [(c.start, c.end, c.sentence_ids[0], len(c.sentence_ids), c.section) for c in chunks],
        )
        payload = stored.to_json()
        parts = [payload[i : i + PART_CHARS] for i in range(0, len(payload), PART_CHARS)]
        self._insert(
            self.documents,
            [
                {
                    "pk": f"{doc_id}:{n}",
                    "doc_id": doc_id,
                    "sha256": document.sha256,
                    "part": n,
                    "parts": len(parts),
                    "payload": part,
                    "dummy": [0.0] * _DUMMY_DIM,
                }
                for n, part in enumerate(parts)
            ],
        )
        return len(sentences)

    def remove_document(self, doc_id: str) -> bool:
        """Delete a document's rows (its document row first); True if it was there."""
        if not self.client.has_collection(self.documents):
            return False
        present = bool(
            self.client.query(
                self.documents, filter=f"doc_id == {_literal(doc_id)}", output_fields=["pk"], limit=1
            )
        )
        for name in (self.documents, self.sentences, self.chunks):
            self.client.delete(name, filter=f"doc_id == {_literal(doc_id)}")
        return present

    def _insert(self, collection: str, rows: list[dict[str, Any]]) -> None:
        for first in range(0, len(rows), INSERT_BATCH):
            self.client.insert(collection, rows[first : first + INSERT_BATCH])

    # -- reading --------------------------------------------------------------------------
    def _rows(self, collection: str, fields: list[str], filter: str = "") -> Iterator[dict[str, Any]]:
        iterator = self.client.query_iterator(
            collection, batch_size=1000, filter=filter, output_fields=fields
        )
        try:
            while True:
                batch = iterator.next()
                if not batch:
                    return
                yield from batch
        finally:
            iterator.close()

    def _complete_documents(self, payload: bool) -> dict[str, tuple[str, list[str]]]:
        """doc_id -> (sha256, payload parts) for documents with every part present."""
        fields = ["doc_id", "sha256", "part", "parts"] + (["payload"] if payload else [])
        found: dict[str, dict[int, dict[str, Any]]] = {}
        for row in self._rows(self.documents, fields, filter="part >= 0"):
            found.setdefault(str(row["doc_id"]), {})[int(row["part"])] = row
        complete: dict[str, tuple[str, list[str]]] = {}
        for doc_id, parts in found.items():
            first = parts.get(0)
            if first is None or len(parts) != int(first["parts"]):
                continue  # being written or removed right now
            texts = [str(parts[n].get("payload", "")) for n in sorted(parts)]
            complete[doc_id] = (str(first["sha256"]), texts)
        return complete

    def fingerprint(self) -> str:
        """Changes whenever a document is added, replaced or removed (any replica's doing)."""
        return fingerprint(self.stored_hashes())

    def load_store(self) -> tuple[dict[str, Document], list[Sentence], list[Chunk], dict[str, str]]:
        """Every complete document with its sentences and chunks, numbered globally by doc_id."""
        if not self.exists():
            raise IndexMissingError(
                f"No index in Milvus ({self.settings.milvus.uri}, prefix "
                f"{self.settings.milvus.collection_prefix!r}); run `qa index build`."
            )
        documents: dict[str, Document] = {}
        hashes: dict[str, str] = {}
        sentences: list[Sentence] = []
        chunks: list[Chunk] = []
        for doc_id, (sha, parts) in sorted(self._complete_documents(payload=True).items()):
            stored = StoredDocument.from_json("".join(parts))
            hashes[doc_id] = sha
            document = stored.document
            documents[doc_id] = document
            offset = len(sentences)
            for n, (start, end, paragraph, kind, section) in enumerate(stored.sentences):
                text = document.text[start:end]
                sentences.append(Sentence(offset + n, doc_id, start, end, paragraph, text, kind, section))
            for n, (start, end, first, count, section) in enumerate(stored.chunks):
                ids = tuple(range(offset + first, offset + first + count))
                text = document.text[start:end]
                chunks.append(Chunk(f"{doc_id}:{n}", doc_id, start, end, ids, text, section))
        return documents, sentences, chunks, hashes


def _embed(embedder: Embedder, texts: list[str], step: int) -> Vectors:
    if not texts:
        return np.zeros((0, embedder.dimension), dtype=np.float32)
    return np.vstack([embedder.embed(texts[i : i + step]) for i in range(0, len(texts), step)])


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
