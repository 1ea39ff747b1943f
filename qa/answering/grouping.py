"""What quoting one sentence brings along, so the quote reads right on its own.

A sentence is often not the whole answer by itself:

- a quotation needs the sentence naming its speaker, and a speaker's sentence the quotation
  that carries on after it (``qa.answering.attribution``);
- a sentence ending in a colon ("… comes in two flavors:") introduces what follows: the list
  items, table rows or sentence after it are its content;
- a sentence carried on by the next one of its paragraph through a pronoun ("A one-character
  string used to separate fields. It defaults to ','."), or in an API reference section, keeps
  that continuation, when the question asks for a kind of answer (a number, a name, a date, an
  exception ...) that only the continuation holds;
- for a why, how or list question, the sentence stating the claim keeps the next one when it
  goes on with it (a pronoun in the same paragraph, or the same speaker's next words): reasons
  tend to follow claims, and members follow what they belong to ("A string containing all
  ASCII characters that are considered whitespace. This includes the characters space, tab …").

All of these stay inside one document, next to each other. A sentence opening with a pronoun
does not bring the sentence before it: measured on the training sets, in documentation its
section title already says what "it" is, and in news "He visited …" needs no extra quote; the
extra sentence only pushed the answering one down the citations.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from qa.answering.attribution import attribution_for, continuation_of, is_quotation
from qa.corpus.chunking import Sentence
from qa.retrieval.identifiers import api_names

# A sentence whose subject is a pronoun or a demonstrative goes on about the sentence before it.
# Expletive "it" ("It is unknown whether …", "It is possible to …") points at nothing.
_ANAPHOR = re.compile(
    r"^\W*(it|its|this|these|those|they|their|such|he|she|his|her)\b(?!\s+(is|was|would be|may be)"
    r"\s+\w+\s+(that|whether|to|for|if|how)\b)",
    re.IGNORECASE,
)
_INTRODUCES = re.compile(r":\s*$")
LISTED_KINDS = frozenset({"item", "row"})
INTRODUCED_UNITS = 2  # list items or rows a colon brings along at most
LISTED_UNITS = 8  # the same for a question asking for a list, whose items are the answer


def opens_with_anaphor(sentence: Sentence) -> bool:
    return not is_quotation(sentence) and bool(_ANAPHOR.match(sentence.text))


def _neighbour(sentence: Sentence, sentences: list[Sentence], offset: int) -> Sentence | None:
    position = sentence.sentence_id + offset
    if not 0 <= position < len(sentences):
        return None
    neighbour = sentences[position]
    return neighbour if neighbour.doc_id == sentence.doc_id else None


def _same_paragraph(a: Sentence, b: Sentence) -> bool:
    return (a.doc_id, a.paragraph) == (b.doc_id, b.paragraph)


def introduced_by(
    sentence: Sentence, sentences: list[Sentence], units: int = INTRODUCED_UNITS
) -> list[Sentence]:
    """What a sentence ending in a colon introduces: the next sentence, or the next ``units`` list
    items or table rows."""
    if not _INTRODUCES.search(sentence.text):
        return []
    following: list[Sentence] = []
    current = sentence
    while len(following) < units:
        nxt = _neighbour(current, sentences, 1)
        if nxt is None or nxt.kind in ("heading", "code"):
            break
        if following and nxt.kind not in LISTED_KINDS:
            break  # the list or table is over
        following.append(nxt)
        if nxt.kind not in LISTED_KINDS:
            break  # one sentence of prose; several units only of a list or table
        current = nxt
    return following


def carried_on_by(
    sentence: Sentence, sentences: list[Sentence], holds_answer: Callable[[str], bool]
) -> Sentence | None:
    """The next sentence of the paragraph, when it goes on about this one's subject and holds the
    kind of answer asked for that this sentence lacks.

    It goes on about the same subject when it opens with a pronoun, or, in an API reference
    section, always: its sentences describe the API the title names and leave it implied
    ("Return a random element from the non-empty sequence seq. If seq is empty, raises
    IndexError.").
    """
    following = _neighbour(sentence, sentences, 1)
    if following is None or not _same_paragraph(following, sentence):
        return None
    same_subject = opens_with_anaphor(following) or bool(api_names(sentence.section))
    if not same_subject or holds_answer(sentence.text):
        return None
    return following if holds_answer(following.text) else None


def elaborated_by(sentence: Sentence, sentences: list[Sentence]) -> Sentence | None:
    """The next sentence, when it goes on with this one: through a pronoun in the same paragraph,
    or as the same speaker's next words ("Chun said the complex should not be underestimated."
    then "“They have 2 million workers …,” he said.")."""
    following = _neighbour(sentence, sentences, 1)
    if following is None or following.kind in ("heading", "code"):
        return None
    if attribution_for(following, sentences) == sentence:
        return following
    return following if _same_paragraph(following, sentence) and opens_with_anaphor(following) else None


def quoted_group(
    sentence: Sentence,
    sentences: list[Sentence],
    holds_answer: Callable[[str], bool] | None = None,
    explains: bool = False,
    units: int = INTRODUCED_UNITS,
) -> list[Sentence]:
    """What quoting ``sentence`` puts in an answer, in reading order.

    ``holds_answer`` says whether a text holds the kind of answer the question asks for; without
    it (an untyped question) no continuation is added for that reason. ``explains``: the question
    asks why, how or for a list, whose answer often follows the sentence that states the claim.
    """
    before = attribution_for(sentence, sentences)
    after: list[Sentence] = []
    speech = continuation_of(sentence, sentences)
    if speech is not None:
        after.append(speech)
    else:
        after = introduced_by(sentence, sentences, units)
        if not after and holds_answer is not None:
            carried = carried_on_by(sentence, sentences, holds_answer)
            after = [carried] if carried is not None else []
        if not after and explains:
            elaboration = elaborated_by(sentence, sentences)
            after = [elaboration] if elaboration is not None else []
    return [s for s in (before, sentence, *after) if s is not None]
