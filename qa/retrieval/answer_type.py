"""What kind of answer a question asks for, and whether a sentence contains one.

Heuristics, deliberately: a wh-word and a few patterns say "a number", "a date", "a person", "a
place" or "a reason"; regular expressions say whether a sentence holds something of that kind.
They feed sentence scoring (the sentence with the number beats its neighbour without one) and
the answerability model (a "how many" question whose best sentence has no number is suspect).
"""

from __future__ import annotations

import re
from enum import Enum


class AnswerType(Enum):
    NUMBER = "number"
    DATE = "date"
    PERSON = "person"
    PLACE = "place"
    REASON = "reason"
    NAME = "name"  # the name of something: a proper noun the question does not already give
    SPEECH = "speech"  # what someone said or thought: a quotation or reported speech
    OTHER = "other"


def _asks(*alternatives: str) -> re.Pattern[str]:
    return re.compile("|".join(alternatives), re.IGNORECASE)


_ASKS = [
    (
        AnswerType.SPEECH,
        _asks(
            r"\bwhat (did|does|do|has|had) [\w .’'-]+ (say|said|think|thought|tell|told|call|write)\b",
            r"\bhow did [\w .’'-]+ (react|respond)\b",
        ),
    ),
    (
        AnswerType.NAME,
        _asks(
            r"\b(what is|what was|what's) the name\b",
            r"\bname of\b",
            r"\bwhat (model|brand|make|kind of \w+ is)\b",
            r"\bwhich (\w+ ){0,2}(outlets?|pundits?|compan(y|ies)|factory|firms?|papers?|shows?)\b",
        ),
    ),
    (
        AnswerType.NUMBER,
        _asks(
            r"\bhow (many|much|long|old|far|big|large|often)\b",
            r"\bwhat (number|percentage|share|amount)\b",
            r"\bwhat is the (number|price|cost|size|population|age)\b",
        ),
    ),
    (
        AnswerType.DATE,
        _asks(
            r"\bwhen\b",
            r"\b(what|which) (year|day|month|date|time)\b",
            r"\b(in|on) what (year|day|date)\b",
        ),
    ),
    (
        AnswerType.PERSON,
        _asks(r"\bwho(m|se)?\b", r"\bwhich (person|official|leader|general|minister|expert|analyst)\b"),
    ),
    (
        AnswerType.PLACE,
        _asks(
            r"\bwhere\b",
            r"\bwhich (city|country|region|place|port|town)\b",
            r"\bin what (city|country|region|place)\b",
        ),
    ),
    (
        AnswerType.REASON,
        _asks(
            r"\bwhy\b",
            r"\bfor what (reason|purpose)\b",
            r"\bwhat (is|was) the (reason|purpose|motive|point)\b",
        ),
    ),
]

_NUMBER_WORDS = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozen|dozens|twenty|thirty|"
    r"forty|fifty|hundred|hundreds|thousand|thousands|million|millions|billion|billions|half|first|"
    r"second|third|single|double"
)
_NUMBER = re.compile(rf"\d|\b({_NUMBER_WORDS})\b|\b\w+-(day|year|month|week|hour)\b", re.I)
_DATE = re.compile(
    r"\b(1[89]\d\d|20\d\d)\b|\b(january|february|march|april|may|june|july|august|september|"
    r"october|november|december|monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
    r"yesterday|today|tomorrow|week|month|year|decade|century|ago|since|until|during|later|earlier)\b",
    re.I,
)
# A capitalised word that does not start the sentence: a name, a title, a place.
_PROPER = re.compile(r"(?<![.!?“\"]\s)(?<!^)\b[A-Z][a-z]+")
_PERSON = re.compile(
    r"\b(Mr|Mrs|Ms|Dr|President|Minister|General|Gen)\b\.?|\b[A-Z][a-z]+ [A-Z][a-z]+(-[a-z]+)?\b"
)
_PLACE = re.compile(r"\b(in|at|to|from|near|across|around|aboard|visited|toured)\s+(the\s+)?[A-Z]")
_REASON = re.compile(
    r"\b(because|since|so that|in order|to (help|get|gain|secure|show|replenish|boost|support)|"
    r"due to|as a result|for (fear|the sake)|aims?|goal|reason|purpose|need|needs|seeks?|wants?|"
    r"hopes?|would|could|in exchange|in return)\b",
    re.I,
)

_SPEECH_SENTENCE = re.compile(
    r"[“”\"]|\b(said|says|told|wrote|added|argued|stated|according to|called|described)\b", re.I
)
_HAS = {
    AnswerType.NAME: _PROPER,
    AnswerType.SPEECH: _SPEECH_SENTENCE,
    AnswerType.NUMBER: _NUMBER,
    AnswerType.DATE: _DATE,
    AnswerType.PERSON: _PERSON,
    AnswerType.PLACE: _PLACE,
    AnswerType.REASON: _REASON,
}


def expected_type(question: str) -> AnswerType:
    """The first kind of answer the question's wording asks for (``OTHER`` when none)."""
    for kind, pattern in _ASKS:
        if pattern.search(question):
            return kind
    return AnswerType.OTHER


def contains_type(text: str, kind: AnswerType, question: str = "") -> bool:
    """Whether ``text`` holds something of that kind that the question does not already say.

    "How many Tu-160 bombers …?" is not answered by a sentence whose only number is "160".
    Always true for ``OTHER``.
    """
    pattern = _HAS.get(kind)
    if pattern is None:
        return True
    asked = question.lower()
    patterns = [pattern, _PROPER] if kind is AnswerType.PLACE else [pattern]
    for candidate in patterns:
        for match in candidate.finditer(text):
            found = match.group().strip(" .").lower()
            if kind is AnswerType.SPEECH or not found or found not in asked:
                return True
    return False
