"""Hybrid retrieval: dense and BM25 over chunks (``SearchIndex.search``), fused, then sentence scoring.

Chunks find the right neighbourhood; sentences are what we quote, so every candidate sentence
gets an absolute evidence score that answer selection and the refusal threshold both use:

    evidence = max(cosine(question, sentence), cosine(question, sentence in context))
             + coverage_weight * idf-weighted share of question terms in the sentence and its
                                 section title * length factor
             + context_weight  * the same share over those and the sentence before it
             + type_weight     * [the sentence holds the kind of answer asked for: number, date, ...]
             + literal_weight  * [the sentence holds what the question quotes: "the ',' option"]
             + definition_weight * [the sentence opens the reference entry of the API a
                                   definition question names: "What does shlex.quote do?"]

The lexical terms reward exact names and numbers that embeddings blur; the context term lets a
quote inherit the speaker named in the sentence before it; so does the in-context cosine, for
sentences whose subject is only a pronoun. In documents with sections the sentence "in context"
is the sentence under its page title and section (``qa.corpus.chunking.context_texts``) and the
section title's terms count as the sentence's: "Return a shifted left by b." answers "what does
operator.lshift return?" only through its section "operator.lshift(a, b)". The length factor
keeps a three-word fragment from winning on coverage alone; the type term is the reader-style
part: of two neighbours sharing the question's words, the one holding the number (or name,
place, reason) asked for wins. Quoted literals are matched as written because tokenizing drops
symbols and stop words: of a table's rows, only "',' | Signals the use of a comma …" holds the
"','" that "What does the ',' option mean?" asks about.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

import faiss
import numpy as np

from qa.config import RetrievalSettings
from qa.corpus.blocks import QUOTABLE
from qa.corpus.chunking import Chunk, Sentence
from qa.embedding.base import Embedder, Vectors
from qa.index import SearchIndex
from qa.index.lexical import tokenize, tokenize_query, top_positions
from qa.retrieval.answer_type import AnswerType, contains_type, expected_type
from qa.retrieval.identifiers import (
    corpus_identifiers,
    defined_name,
    defined_subject,
    documented_name,
    names_match,
    title_key,
)

# Version notes that reference pages put before or after an entry's summary.
_VERSION_NOTE = re.compile(
    r"\W*((added|new|changed|deprecated|removed|introduced) (in|since)\b|stability:)", re.I
)
COVERAGE_WEIGHT = 0.3
CONTEXT_WEIGHT = 0.2
TYPE_WEIGHT = 0.05
LITERAL_WEIGHT = 0.2  # a sentence holding what the question quotes ("the '^' option")
DEFINITION_WEIGHT = 0.5  # the summary sentence of the API entry a definition question names
MAX_TITLED_SECTIONS = 2  # sections sharing the title a definition question names, at most
# Sentences with fewer content terms than this get proportionally less lexical credit.
FULL_LENGTH_TERMS = 5


@dataclass(frozen=True, slots=True)
class ScoredChunk:
    chunk: Chunk
    score: float  # reciprocal-rank-fusion score


@dataclass(frozen=True, slots=True)
class ScoredSentence:
    sentence: Sentence
    score: float
    dense: float
    coverage: float
    has_type: bool = True  # holds the kind of answer the question asks for


@dataclass(frozen=True, slots=True)
class Retrieval:
    """One question's retrieval: ranked candidate sentences plus what answerability needs."""

    query: str
    sentences: list[ScoredSentence]
    weights: dict[str, float]  # the question's terms and their idf
    kind: AnswerType
    dense_chunks: list[int]  # chunk positions by dense rank
    lexical_chunks: list[int]  # chunk positions by BM25 rank


class CorpusTerms:
    """Lexical statistics of the indexed sentences, computed once and shared.

    Used by sentence scoring here and by follow-up expansion (``qa.retrieval.followup``).
    """

    def __init__(self, sentences: list[Sentence]) -> None:
        self.sentence_terms = [frozenset(t) for t in tokenize([s.text for s in sentences])]
        document_frequency = Counter(t for terms in self.sentence_terms for t in terms)
        total = len(self.sentence_terms)
        self.idf = {
            term: math.log(1 + (total - df + 0.5) / (df + 0.5)) for term, df in document_frequency.items()
        }
        # Code identifiers the corpus names (``qa.retrieval.identifiers``).
        self.identifiers = corpus_identifiers(s.text for s in sentences)
        # A term the corpus never uses is as informative as the rarest one.
        self.unknown_idf = math.log(1 + (total + 0.5) / 0.5)
        # Terms of the section each sentence sits in: in documentation the section title names
        # what its sentences are about ("gc.collect(generation=2)" over "The number of
        # unreachable objects found is returned."), so they count as the sentence's own terms.
        titles = sorted({s.section for s in sentences if s.section})
        section_tokens = dict(zip(titles, map(frozenset, tokenize(titles)), strict=True)) if titles else {}
        self.section_terms = [section_tokens.get(s.section, frozenset()) for s in sentences]
        # Terms of each sentence with its section and the sentence before it in the same paragraph.
        self.context_terms = [
            terms | self.sentence_terms[i - 1] | self.section_terms[i]
            if i > 0
            and (sentences[i - 1].doc_id, sentences[i - 1].paragraph)
            == (sentences[i].doc_id, sentences[i].paragraph)
            else terms | self.section_terms[i]
            for i, terms in enumerate(self.sentence_terms)
        ]

    def weights(self, query_terms: frozenset[str]) -> dict[str, float]:
        return {t: self.idf.get(t, self.unknown_idf) for t in query_terms}


class Retriever:
    """Answers "which chunks / sentences match this question" over one loaded index."""

    def __init__(self, index: SearchIndex, embedder: Embedder, settings: RetrievalSettings):
        self._index = index
        self._embedder = embedder
        self._settings = settings
        self.terms = CorpusTerms(index.sentences)
        # Per-request searches are tiny: OpenMP threads would only add hand-off latency and fight
        # the other requests for the cores.
        faiss.omp_set_num_threads(1)
        self._chunk_of_sentence: dict[int, Chunk] = {}
        # Every chunk (by position) holding a sentence; chunks overlap.
        self.chunks_of_sentence: dict[int, set[int]] = {}
        for position, chunk in enumerate(index.chunks):
            for sentence_id in chunk.sentence_ids:
                self._chunk_of_sentence.setdefault(sentence_id, chunk)
                self.chunks_of_sentence.setdefault(sentence_id, set()).add(position)
        # Headings have no chunk of their own: theirs is the next one of the same document.
        following: Chunk | None = None
        for sentence in reversed(index.sentences):
            found = self._chunk_of_sentence.get(sentence.sentence_id)
            if found is not None:
                following = found
            elif following is not None and following.doc_id == sentence.doc_id:
                self._chunk_of_sentence[sentence.sentence_id] = following
        # The first prose sentence of each API reference entry, by the last part of the name it
        # documents. Reference documentation opens an entry with its summary ("Return a
        # shell-escaped version of the string s."), so that sentence answers "What does
        # shlex.quote do?" better than a later one sharing more of the question's words. Prose
        # only: some references list the parameters first ("* `path` {string}", Node.js).
        self._entry_leads: dict[str, list[tuple[str, int]]] = {}
        # The same for any section, by its title: "What does pyenv local do?" is answered by the
        # opening of the section titled "pyenv local", "What is pyenv?" by that of "pyenv".
        self._section_leads: dict[str, list[int]] = {}
        entries: set[tuple[str, str]] = set()
        for sentence in index.sentences:
            entry = (sentence.doc_id, sentence.section)
            if not sentence.section or sentence.kind != "text" or entry in entries:
                continue
            if _VERSION_NOTE.match(sentence.text):
                continue  # "Added in: v0.3.0" above Node.js's summaries says when, not what
            entries.add(entry)
            self._section_leads.setdefault(title_key(sentence.section), []).append(sentence.sentence_id)
            name = documented_name(sentence.section)
            if name is not None:
                self._entry_leads.setdefault(name.rsplit(".", 1)[-1], []).append((name, sentence.sentence_id))

    @property
    def index(self) -> SearchIndex:
        return self._index

    @property
    def embedder(self) -> Embedder:
        return self._embedder

    def chunk_for(self, sentence_id: int) -> Chunk | None:
        """The chunk holding a sentence (a heading's is the chunk after it), if any."""
        return self._chunk_of_sentence.get(sentence_id)

    def definition_leads(self, question: str) -> set[int]:
        """The summary sentences of the API entries a definition question asks about; for "what
        does X return?", only a summary that speaks of returning."""
        asked = defined_name(question)
        if asked is not None:
            name, returns = asked
            leads = {
                sentence_id
                for documented, sentence_id in self._entry_leads.get(name.rsplit(".", 1)[-1], [])
                if names_match(name, documented)
                and (not returns or "return" in self._index.sentences[sentence_id].text.lower())
            }
            if leads:
                return leads
        subject = defined_subject(question)
        titled = self._section_leads.get(subject, []) if subject else []
        # A title many sections share ("Examples", "Notes") is no subject of its own.
        return set(titled) if len(titled) <= MAX_TITLED_SECTIONS else set()

    def embed_query(self, query: str) -> Vectors:
        return self._embedder.embed([query])

    def search_chunks(self, query: str, k: int, vector: Vectors | None = None) -> list[ScoredChunk]:
        """Top ``k`` chunks by reciprocal rank fusion of dense and BM25 rankings."""
        return self._search_chunks(query, k, vector)[0]

    def _search_chunks(
        self, query: str, k: int, vector: Vectors | None = None
    ) -> tuple[list[ScoredChunk], list[int], list[int]]:
        index = self._index
        total = len(index.chunks)
        if total == 0:
            return [], [], []
        depth = min(total, max(k, self._settings.candidate_chunks) * 2)
        vector = self.embed_query(query) if vector is None else vector
        dense_ids = index.search.dense("chunks", vector, depth)
        lexical_ids = index.search.bm25_chunks(list(tokenize_query(query)), depth)
        fused: dict[int, float] = {}
        for ranking in (dense_ids, lexical_ids):
            for rank, chunk_id in enumerate(ranking):
                fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (self._settings.rrf_k + rank + 1)
        best = sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:k]
        return [ScoredChunk(index.chunks[i], score) for i, score in best], dense_ids, lexical_ids

    def rank_sentences(self, query: str) -> list[ScoredSentence]:
        """Candidate sentences for an answer, best first, with absolute evidence scores."""
        return self.retrieve(query).sentences

    def retrieve(self, query: str) -> Retrieval:
        """Ranked candidate sentences and the rankings behind them (one embedding, one search)."""
        vector = self.embed_query(query)
        weights = self.terms.weights(frozenset(tokenize_query(query)))
        kind = expected_type(query)
        chunks, dense_chunks, lexical_chunks = self._search_chunks(
            query, self._settings.candidate_chunks, vector
        )
        sentences = self._score_sentences(chunks, vector, weights, kind, query)
        return Retrieval(query, sentences, weights, kind, dense_chunks, lexical_chunks)

    def _score_sentences(
        self,
        chunks: list[ScoredChunk],
        vector: Vectors,
        weights: dict[str, float],
        kind: AnswerType,
        question: str,
    ) -> list[ScoredSentence]:
        candidates = {sid for scored in chunks for sid in scored.chunk.sentence_ids}
        depth = min(len(self._index.sentences), self._settings.candidate_chunks)
        if depth:
            for name in ("sentences", "contexts"):
                candidates.update(self._index.search.dense(name, vector, depth))
        leads = self.definition_leads(question)
        candidates |= leads
        if not candidates:
            return []
        ids = sorted(candidates)
        literals = quoted_literals(question)
        dense = np.maximum(
            self._index.search.vectors("sentences", ids) @ vector[0],
            self._index.search.vectors("contexts", ids) @ vector[0],
        )
        scored = []
        for sentence_id, similarity in zip(ids, dense, strict=True):
            terms = self.terms.sentence_terms[sentence_id]
            # Short sentences get less lexical credit by their own length, section included or not.
            length = min(1.0, len(terms) / FULL_LENGTH_TERMS)
            coverage = _coverage(weights, terms | self.terms.section_terms[sentence_id])
            context = _coverage(weights, self.terms.context_terms[sentence_id])
            sentence = self._index.sentences[sentence_id]
            has_type = contains_type(sentence.text, kind, question)
            score = (
                float(similarity)
                + COVERAGE_WEIGHT * coverage * length
                + CONTEXT_WEIGHT * context * length
                + TYPE_WEIGHT * (has_type and kind is not AnswerType.OTHER)
                + LITERAL_WEIGHT * any(literal.search(sentence.text) for literal in literals)
                + DEFINITION_WEIGHT * (sentence_id in leads)
            )
            scored.append(ScoredSentence(sentence, score, float(similarity), coverage, has_type))
        scored.sort(key=lambda s: (-s.score, s.sentence.sentence_id))
        return quotable(scored)


# Something the question quotes: 'once', "^", `lru_cache`. Not an apostrophe ("Kim's", "don't"):
# the opening quote follows a space or a bracket, the closing one is followed by one or by
# punctuation.
_QUOTED = re.compile(r"""(?:^|(?<=[\s(]))(['"`‘“])([^'"`‘’“”\n]{1,40}?)(['"`’”])(?=[\s?.,;:!)]|$)""")


def quoted_literals(question: str) -> list[re.Pattern[str]]:
    """Patterns for what the question quotes, each as the text would show it: quoted the same
    way or another ("'^'", "“^”"), or, for a word, as that word. Tokenizing drops symbols and
    short or frame words ("the ',' option", "the '^' alignment", "the 'is' operator"), so only
    this finds them."""
    patterns = []
    for _, literal, _ in _QUOTED.findall(question):
        quoted = rf"""['"`‘“]{re.escape(literal)}['"`’”]"""
        word = rf"\b{re.escape(literal)}\b" if re.fullmatch(r"\w[\w .-]*\w|\w", literal) else None
        patterns.append(re.compile(f"{quoted}|{word}" if word else quoted, re.IGNORECASE))
    return patterns


def quotable(scored: list[ScoredSentence]) -> list[ScoredSentence]:
    """The candidates an answer may quote: never a heading alone (it titles, it does not answer);
    a code block only when no prose sentence is left, since prose explains what code shows."""
    prose = [s for s in scored if s.sentence.kind in QUOTABLE]
    return prose or [s for s in scored if s.sentence.kind == "code"]


def _coverage(weights: dict[str, float], terms: frozenset[str]) -> float:
    """The idf-weighted share of the question's terms found in ``terms``."""
    if not weights:
        return 0.0
    return sum(weights[t] for t in weights.keys() & terms) / sum(weights.values())


_top = top_positions  # kept importable under its old name
