"""The index in Milvus: documents, sentences and chunks shared by every replica.

Three collections (``<prefix>_documents``, ``<prefix>_sentences``, ``<prefix>_chunks``):

- documents: each document's text with its sentence and chunk spans, as JSON split into parts
  (a VARCHAR holds at most 64 KiB), so any replica can load every span and verify every
  citation without local files. Each part records the document's *index stamp* (in the field
  named ``sha256``): its content hash and a tag of the format version, embedding model and
  chunking it was indexed under (``qa.index.stored.index_stamp``). A document whose stamp has
  another tag, rows written before stamps included, is stale and is indexed again
  (``qa.index.milvus_search.reindex_stale``).
- sentences: the sentence vector and the in-context vector of every sentence.
- chunks: the chunk vector, and the chunk's BM25 tokens in a VARCHAR that Milvus's built-in
  BM25 function turns into a sparse vector. The tokens are ours (``qa.index.lexical.tokenize``:
  stop words out, stemmed), joined by spaces and split again by a whitespace analyzer, so
  both backends rank chunks by BM25 over the very same terms.

Sentence and chunk keys are ``<doc_id>:<n>`` (n counts within the document), so adding or
removing one document touches only its own rows. A document's first part is the one that counts:
a document is there when its part 0 is, with parts 1.. of the same stamp. So writes go vectors
first, then the later parts beside any older version's, then part 0 (one row) to switch, and only
then are the older version's leftovers deleted: a document row always means its vectors are
there, and a failure at any point leaves one whole version readable (the previous one until the
switch). Removal deletes the document rows first. A loaded ``SearchIndex`` numbers sentences
and chunks globally (as a FAISS build does) and maps Milvus keys to those ids; the documents'
fingerprint (ids and stamps) is its ``generation``, which replicas poll to pick up changes made
by any of them.

A batch of writes (a build, an upload, a removal) ends with ``MilvusIndex.flush``: Milvus Lite
searches rows not yet flushed one by one in Python, for every question.
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
from qa.index.stored import StoredDocument, fingerprint, index_stamp, index_tag, is_current

log = logging.getLogger("qa.index")

# gRPC keepalive pings off: pymilvus pings every 10 s by default, which Milvus Lite's server
# answers after a few idle minutes with GOAWAY "too_many_pings", killing the shared connection
# (seen here). Calls carry their own timeouts instead.
GRPC_OPTIONS = {"grpc.keepalive_time_ms": 2**31 - 1, "grpc.keepalive_permit_without_calls": 0}
PART_CHARS = 15_000  # UTF-8 needs at most 4 bytes a character: 60 kB < the 64 KiB VARCHAR limit
_ITERATOR_LOG = "pymilvus.client.iterator.query_iterator"
MAX_KEY = 1024
INSERT_BATCH = 256
FLUSH_TIMEOUT_S = 600.0  # a flush writes out every pending row: seconds for a whole corpus
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
        self.tag = index_tag(settings)

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
    def stamp_of(self, document: Document) -> str:
        """The stamp ``document`` is stored under when indexed now (compare ``stored_stamps``)."""
        return index_stamp(document.sha256, self.tag)

    def stored_stamps(self) -> dict[str, str]:
        """doc_id -> index stamp of every document whose rows are complete."""
        if not self.client.has_collection(self.documents):
            return {}
        return {doc_id: stamp for doc_id, (stamp, _) in self._complete_documents(payload=False).items()}

    def stale_documents(self) -> list[str]:
        """Ids of the stored documents indexed under another format version, model or chunking."""
        return sorted(d for d, stamp in self.stored_stamps().items() if not is_current(stamp, self.tag))

    def add_document(
        self, document: Document, embedder: Embedder, vectors: dict[str, Vectors] | None = None
    ) -> int:
        """Embed and store one document (replacing any same-id one); returns its sentence count.

        ``vectors`` (sentences, contexts, chunks) skips embedding: copied from a FAISS build.
        Nothing of a previous version is deleted before the new one is complete (see the module
        docstring); rows are upserted, so writing the same version twice (two replicas re-indexing
        at once, a retry) leaves one copy. A failure before the switch leaves the previous version
        answering, some of its vectors possibly already the new version's: a stale one stays stale
        and is re-indexed by the next run; a replaced upload is right once the upload is retried.
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
        stamp = self.stamp_of(document)
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
        # Vectors are overwritten in place: until part 0 switches, the previous version still has
        # a row for each of its keys (a failure now leaves it readable, and stale if it was).
        self._upsert(self.sentences, sentence_rows)
        self._upsert(self.chunks, chunk_rows)
        payload = StoredDocument.of(document, sentences, chunks).to_json()
        parts = [payload[i : i + PART_CHARS] for i in range(0, len(payload), PART_CHARS)]
        part_rows = [
            {
                # Parts after the first are keyed by stamp, so they never overwrite the parts of
                # the version still in use; part 0 is the one row that says which version that is.
                "pk": f"{doc_id}:{n}:{stamp}" if n else f"{doc_id}:0",
                "doc_id": doc_id,
                "sha256": stamp,
                "part": n,
                "parts": len(parts),
                "payload": part,
                "dummy": [0.0] * _DUMMY_DIM,
            }
            for n, part in enumerate(parts)
        ]
        self._upsert(self.documents, part_rows[1:])
        self._upsert(self.documents, part_rows[:1])
        self._delete_superseded(
            doc_id, stamp, {row["pk"] for row in sentence_rows}, {row["pk"] for row in chunk_rows}
        )
        return len(sentences)

    def _delete_superseded(
        self, doc_id: str, stamp: str, sentence_keys: set[str], chunk_keys: set[str]
    ) -> None:
        """Delete what a previous version left: parts of other stamps, vectors past the new count.

        A filter on ``doc_id`` reads every row of a collection (the field has no index), and the
        vector collections grow to every sentence and chunk of the corpus: filtering them for each
        document made filling a store quadratic. A document's vector keys are ``<doc_id>:<n>``,
        written as a prefix (n = 0, 1, ... in order) and deleted past a count or all at once, so
        they are always ``<doc_id>:0..m-1``: what an older, longer version left are the keys from
        the new count on, found by primary-key look-ups a page at a time (none when nothing is
        left). The documents collection holds a few rows per document; it is filtered.
        """
        self.client.delete(
            self.documents, filter=f"doc_id == {_literal(doc_id)} and sha256 != {_literal(stamp)}"
        )
        for collection, count in ((self.sentences, len(sentence_keys)), (self.chunks, len(chunk_keys))):
            while True:
                page = [f"{doc_id}:{n}" for n in range(count, count + INSERT_BATCH)]
                left = [
                    str(row["pk"]) for row in self.client.query(collection, ids=page, output_fields=["pk"])
                ]
                if not left:
                    break
                self.client.delete(collection, ids=left)
                count += INSERT_BATCH

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

    def flush(self) -> None:
        """Seal what was written into segments, so searches stop scanning it row by row.

        Call it once a batch of writes is done (a build, an upload, a removal), not per document:
        a flush makes a segment. Milvus Lite only flushes by itself once its in-memory table
        reaches 128 MB, and searches that table row by row in Python: a corpus written in one go
        stays there and every question pays for every row (1.2-1.6 s on 80 python-doc pages,
        about 35 ms flushed). Milvus standalone or distributed seals segments by itself and may
        rate-limit flushes; the rows are written either way, so a failed flush is logged, never
        raised.
        """
        for name in (self.documents, self.sentences, self.chunks):
            try:
                self.client.flush(name, timeout=FLUSH_TIMEOUT_S)
            except Exception as exc:  # pymilvus raises MilvusException and raw gRPC errors alike
                log.warning(
                    "Milvus could not flush %s (searches stay slower until it does): %s", name, _short(exc)
                )

    def _upsert(self, collection: str, rows: list[dict[str, Any]]) -> None:
        for first in range(0, len(rows), INSERT_BATCH):
            self.client.upsert(collection, rows[first : first + INSERT_BATCH])

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

    def _complete_documents(
        self, payload: bool, filter: str = "part >= 0"
    ) -> dict[str, tuple[str, list[str]]]:
        """doc_id -> (stamp, payload parts) for documents whose part 0 has all its parts present."""
        fields = ["doc_id", "sha256", "part", "parts"] + (["payload"] if payload else [])
        found: dict[str, list[dict[str, Any]]] = {}
        for row in self._rows(self.documents, fields, filter=filter):
            found.setdefault(str(row["doc_id"]), []).append(row)
        complete: dict[str, tuple[str, list[str]]] = {}
        for doc_id, rows in found.items():
            first = next((row for row in rows if int(row["part"]) == 0), None)
            if first is None:
                continue  # being written for the first time, or removed, right now
            stamp = str(first["sha256"])
            # Parts of other stamps belong to a version being written or just replaced.
            parts = {int(row["part"]): row for row in rows if str(row["sha256"]) == stamp}
            count = int(first["parts"])
            if any(n not in parts for n in range(count)):
                continue
            complete[doc_id] = (stamp, [str(parts[n].get("payload", "")) for n in range(count)])
        return complete

    def stored_document(self, doc_id: str) -> StoredDocument | None:
        """One complete document with its spans, as stored; None when there is none."""
        found = self._complete_documents(payload=True, filter=f"doc_id == {_literal(doc_id)}").get(doc_id)
        return StoredDocument.from_json("".join(found[1])) if found is not None else None

    def fingerprint(self) -> str:
        """Changes whenever a document is added, replaced, re-indexed or removed (by any replica)."""
        return fingerprint(self.stored_stamps())

    def load_store(self) -> tuple[dict[str, Document], list[Sentence], list[Chunk], dict[str, str]]:
        """Every complete document with its sentences and chunks, numbered globally by doc_id,
        and its stamp."""
        if not self.exists():
            raise IndexMissingError(
                f"No index in Milvus ({self.settings.milvus.uri}, prefix "
                f"{self.settings.milvus.collection_prefix!r}); run `qa index build`."
            )
        documents: dict[str, Document] = {}
        stamps: dict[str, str] = {}
        sentences: list[Sentence] = []
        chunks: list[Chunk] = []
        for doc_id, (stamp, parts) in sorted(self._complete_documents(payload=True).items()):
            stored = StoredDocument.from_json("".join(parts))
            stamps[doc_id] = stamp
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
        return documents, sentences, chunks, stamps


def _embed(embedder: Embedder, texts: list[str], step: int) -> Vectors:
    if not texts:
        return np.zeros((0, embedder.dimension), dtype=np.float32)
    return np.vstack([embedder.embed(texts[i : i + step]) for i in range(0, len(texts), step)])


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
