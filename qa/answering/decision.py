"""Answer or refuse: the learned answerability model over the retrieval's signals.

Also finds the sentence that shows a gap ("It is unknown whether …"): a refusal can cite it,
so "the article does not say" comes with the evidence that it does not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from qa.answering.answerability import AnswerabilityModel, load_model
from qa.answering.citations import make_citation
from qa.answering.extractive import ExtractiveAnswerer, shown_text
from qa.config import AnsweringSettings
from qa.contract import Citation
from qa.corpus.chunking import Sentence
from qa.retrieval.retriever import Retrieval, Retriever, ScoredSentence
from qa.retrieval.signals import FEATURES, compute_signals, rule_refuses

# Sentences that say the corpus does not know: unknown / unclear / not disclosed / declined to say.
_GAP = re.compile(
    r"\b(it is|it was|it remains|it's|remains|remained|is still|was not|were not|is not|are not)\s+"
    r"(unknown|unclear|uncertain|not known|not clear|undisclosed|not disclosed|not confirmed)\b"
    r"|\b(unknown|unclear|uncertain) (whether|if|what|how|who|when|why)\b"
    r"|\bdeclined to (say|comment|confirm|disclose|specify)\b"
    r"|\b(did|does|would) not (say|disclose|specify|confirm|comment)\b"
    r"|\bno (details|information) (was|were|has been|have been) (given|released|disclosed)\b",
    re.IGNORECASE,
)
# Messages that address the bot instead of asking about the corpus: instructions to ignore,
# pretend, reveal or role-play, fake transcript turns, and tasks for a writer rather than a
# reader. They are refused whatever they match.
_INSTRUCTION = re.compile(
    r"\b(ignore|disregard|forget) (all |any |the |your )?(previous|prior|above|earlier)\b"
    r"|\bpretend (that )?(the|this|you)\b"
    r"|\b(system|hidden|initial) (prompt|instructions?|message)\b"
    r"|\b(reveal|print|show|repeat|output) (me )?(your|the) (full |entire |hidden |system )*"
    r"(prompt|instructions?|configuration|secrets?)\b"
    r"|\bapi keys?\b"
    r"|\byou are (now|no longer)\b|\bjailbreak\b"
    r"|(^|\s)(assistant|user|system)\s*:|</?\s*(article|system|document|context)\s*>"
    # Tasks no quotation can do: translating, recommending, writing poems or jokes. Not "write
    # file python" or "create a virtual environment": those are how-to searches in documentation.
    r"|^\W*(please\s+)?(translate|recommend)\b"
    r"|\b(write|compose|tell) (me )?(a|an|some) (\w+ )?(poem|story|song|essay|joke|haiku|limerick)s?\b",
    re.IGNORECASE,
)
GAP_DEPTH = 3  # only a gap sentence among the best few candidates speaks to the question


@dataclass(frozen=True, slots=True)
class Decision:
    answerable: bool
    probability: float | None  # the model's, None under the plain threshold decision
    gap: ScoredSentence | None = None  # cited by a refusal when the corpus states the gap
    # What an extractive answer quotes (sentence, evidence score), in citation order: the rules
    # judged exactly these, and the answerer formats them.
    quoted: list[tuple[Sentence, float]] = field(default_factory=list)


def is_instruction(question: str) -> bool:
    """The message tries to instruct the bot (prompt injection) rather than ask the corpus."""
    return bool(_INSTRUCTION.search(question))


def shows_gap(text: str) -> bool:
    """The sentence says something is unknown, unclear or undisclosed."""
    return bool(_GAP.search(text))


class Decider:
    """Loads the artefact once; ``decide`` is a dot product and a few set look-ups."""

    def __init__(
        self,
        settings: AnsweringSettings,
        min_score: float | None,
        retriever: Retriever,
        answerer: ExtractiveAnswerer,
    ) -> None:
        self._settings = settings
        self._retriever = retriever
        self._answerer = answerer
        # The threshold decision with an explicit score needs no artefact: that is how
        # `--calibrate` runs when the artefact no longer matches the features.
        self.model: AnswerabilityModel | None = None
        self.threshold = 0.5
        if settings.decision == "learned" or min_score is None:
            self.model = load_model(settings.model_path, FEATURES)
            self.threshold = self.model.threshold(settings.strictness)
        self._fallback = (
            self.model.artefact.fallback_min_score if min_score is None and self.model else min_score or 0.0
        )

    def quoted(self, retrieval: Retrieval, question: str | None = None) -> list[tuple[Sentence, float]]:
        """What an extractive answer would quote for this evidence."""
        if not retrieval.sentences:
            return []
        return self._answerer.select(
            retrieval.sentences,
            self._retriever.index.sentences,
            retrieval.kind,
            retrieval.query if question is None else question,
        )

    def signals(
        self, retrieval: Retrieval, quoted: list[tuple[Sentence, float]] | None = None
    ) -> list[float]:
        # The typed-answer and time rules look at what the answer would show, near-ties included.
        texts = [
            shown_text(sentence) for sentence, _ in (self.quoted(retrieval) if quoted is None else quoted)
        ]
        return compute_signals(
            retrieval, self._retriever.terms, self._retriever.chunks_of_sentence, texts or None
        )

    def probability(self, retrieval: Retrieval) -> float | None:
        return self.model.probability(self.signals(retrieval)) if self.model else None

    def decide(self, retrieval: Retrieval, question: str | None = None) -> Decision:
        """Answer or refuse ``question`` (default: the retrieval query) on this evidence."""
        ranked = retrieval.sentences
        if not ranked or is_instruction(retrieval.query if question is None else question):
            return Decision(False, None)
        best = ranked[0].score
        quoted = self.quoted(retrieval, question)
        signals = self.signals(retrieval, quoted)
        probability = self.model.probability(signals) if self.model else None
        if self._settings.decision == "threshold" or probability is None:
            answerable = best >= self._fallback
        elif rule_refuses(signals):
            # "How many …?", "When …?", "What is the name of …?", "What did X say …?" with no
            # number, date, attached name or speech in what would be quoted (that the question
            # does not already give) is not answered by it, however well it matches; nor is a
            # question about "last year" or "2019" by evidence that never mentions that time.
            answerable = False
        else:
            # The fitted score floor keeps refusing what is plainly off-topic; the model decides
            # among the rest.
            answerable = probability >= self.threshold and best >= self._fallback
        if answerable:
            return Decision(True, probability, quoted=quoted)
        return Decision(False, probability, self._gap(ranked) if self._settings.cite_gaps else None)

    def _gap(self, ranked: list[ScoredSentence]) -> ScoredSentence | None:
        for scored in ranked[:GAP_DEPTH]:
            if scored.coverage > 0 and shows_gap(scored.sentence.text):
                return scored
        return None


def gap_citation(gap: ScoredSentence, retriever: Retriever) -> Citation:
    """Citation [1] of a refusal: the sentence saying the corpus does not know."""
    sentence = gap.sentence
    chunk = retriever.chunk_for(sentence.sentence_id)
    return make_citation(
        1,
        retriever.index.documents[sentence.doc_id],
        sentence.start,
        sentence.end,
        gap.score,
        chunk.chunk_id if chunk else None,
        sentence.section,
    )
