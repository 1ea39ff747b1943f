"""Who said it: keep a quotation together with the sentence that names its speaker.

A quote such as ``“Of course, some are expired.”`` or ``“They have 2 million workers…,” he
said.`` is misleading without the neighbouring sentence that says who is talking.
"""

from __future__ import annotations

import re

from qa.corpus.chunking import Sentence

_OPENING_QUOTES = ("“", '"', "‘")
_SPEECH_VERB = re.compile(
    r"\b(said|says|say|wrote|writes|told|tells|added|asked|according to|stated|argued)\b",
    re.IGNORECASE,
)
_PRONOUN_ATTRIBUTION = re.compile(
    r"\b(he|she|they|it|we|I)\s+(said|says|wrote|added|asked|told)\b", re.IGNORECASE
)
_LOOK_BACK = 3  # sentences; attributions sit right next to their quotes


def is_quotation(sentence: Sentence) -> bool:
    return sentence.text.lstrip().startswith(_OPENING_QUOTES)


def names_speaker(sentence: Sentence) -> bool:
    """The sentence attributes speech to someone by name (not only "he said")."""
    text = sentence.text
    return bool(_SPEECH_VERB.search(text)) and not _PRONOUN_ATTRIBUTION.search(text)


def needs_attribution(sentence: Sentence) -> bool:
    """A quotation with no speaker, or only a pronoun for one."""
    if _PRONOUN_ATTRIBUTION.search(sentence.text):
        return True
    return is_quotation(sentence) and not _SPEECH_VERB.search(sentence.text)


def attribution_for(sentence: Sentence, sentences: list[Sentence]) -> Sentence | None:
    """The nearest earlier sentence of the same document that names the quote's speaker."""
    if not needs_attribution(sentence):
        return None
    for offset in range(1, _LOOK_BACK + 1):
        position = sentence.sentence_id - offset
        if position < 0:
            break
        candidate = sentences[position]
        if candidate.doc_id != sentence.doc_id:
            break
        if names_speaker(candidate):
            return candidate
    return None


def continuation_of(sentence: Sentence, sentences: list[Sentence]) -> Sentence | None:
    """The next sentence when it carries on the same speaker's quotation in the paragraph."""
    following = sentence.sentence_id + 1
    if following >= len(sentences) or not names_speaker(sentence):
        return None
    candidate = sentences[following]
    same_paragraph = (candidate.doc_id, candidate.paragraph) == (
        sentence.doc_id,
        sentence.paragraph,
    )
    if same_paragraph and is_quotation(candidate) and not _SPEECH_VERB.search(candidate.text):
        return candidate
    return None
