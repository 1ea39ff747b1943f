"""What kind of answer a question asks for, and whether a sentence contains one.

Heuristics, deliberately: a wh-word and a few patterns say "a number", "a date", "a person", "a
place", "a reason" or "a default"; regular expressions say whether a sentence holds something of that kind.
They feed sentence scoring (the sentence with the number beats its neighbour without one) and
the answerability model (a "how many" question whose best sentence has no number is suspect).
"""

from __future__ import annotations

import re
from enum import Enum
from functools import lru_cache

from qa.index.lexical import tokenize_query


class AnswerType(Enum):
    NUMBER = "number"
    DATE = "date"
    PERSON = "person"
    PLACE = "place"
    REASON = "reason"
    NAME = "name"  # the name of something: a proper noun the question does not already give
    SPEECH = "speech"  # what someone said or thought: a quotation or reported speech
    ROLE = "role"  # who holds a role: "Who is the president of X?" needs that role and a person
    CLOSED_CLASS = "closed class"  # a colour, a currency, an exception, an address, a version …
    DEFAULT = "default"  # what holds when nothing is given: "What is the default width?"
    OTHER = "other"


# Roles a "who is the … of X?" question asks about. The leaders are interchangeable ("the head
# of X" may be given as its director); any other role must be named as asked.
_LEADERS = ("president", "head", "leader", "chief", "director", "chairman", "chairwoman", "chair", "ceo")
_OTHER_ROLES = (
    "founder", "owner", "editor", "author", "secretary", "spokesman", "spokeswoman", "spokesperson",
    "ambassador", "commander", "minister", "governor", "mayor", "captain", "coach", "manager",
    "dean", "maintainer", "creator", "inventor",
)  # fmt: skip
_ROLES = "(" + "|".join(_LEADERS + _OTHER_ROLES) + ")"
# Closed-class questions: what the question asks for, and the words that can answer it. A sentence
# without one does not say what colour, currency, exception, address or complexity it is, however
# well it matches the rest of the question.
_CLOSED_CLASSES = (
    (
        re.compile(r"\b(what|which|in what) colou?rs?\b", re.I),
        re.compile(
            r"\b(red|orange|yellow|green|blue|purple|violet|pink|brown|black|white|gr[ae]y|silver|"
            r"gold(en)?|beige|khaki|olive|navy|maroon|crimson|scarlet|turquoise|teal|cyan|magenta|"
            r"indigo|ivory|cream|tan|camouflage|colou?rless|transparent)(ish)?\b",
            re.I,
        ),
    ),
    (
        re.compile(r"\b(what|which|in what) currenc(y|ies)\b", re.I),
        re.compile(
            r"[$€£¥₩₽]|\b(dollars?|euros?|yen|yuan|renminbi|r[ou]+bles?|won|pounds? sterling|francs?|"
            r"rupees?|pesos?|USD|EUR|RUB|KRW|KPW|CNY|JPY|GBP)\b",
            re.I,
        ),
    ),
    (
        # "What exception does X raise?", "What does X raise?", "What is raised when …?"; an error
        # only when raising or throwing is asked about ("What error did the pilot make?" asks for
        # no exception class).
        re.compile(
            r"\b(what|which) (\w+ )?exceptions?\b"
            r"|\b(what|which) (\w+ )?errors?\b(?=.*\b(raise[sd]?|raising|throws?|thrown)\b)"
            r"|\bwhat (is|are|was|were|gets?|does|do|did|will|would|can|could|might|may) "
            r"([\w.()\"'’-]+ ){0,6}?(raised?|thrown|throws?)\b",
            re.I,
        ),
        re.compile(r"(?<![\w-])\w*(Error|Exception|Warning|Exit|Interrupt|Iteration)\b"),
    ),
    (
        re.compile(
            r"\b(what|which)\b('s|’s| is| was| are| were)? ([\w’'-]+ ){0,3}?e-?mail( address)?\b", re.I
        ),
        re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"),
    ),
    (
        re.compile(
            r"\b(what|which)\b('s|’s| is| was| are| were)? ([\w’'-]+ ){0,3}?"
            r"(url|website|web site|web address|home ?page)\b",
            re.I,
        ),
        re.compile(r"https?://|\bwww\.|\b[\w-]+\.(com|org|net|io|gov|edu|int)\b", re.I),
    ),
    (
        re.compile(
            r"\b(what|which)\b('s|’s| is| was| are| were)? ([\w’'-]+ ){0,3}?(tele)?phone number\b", re.I
        ),
        re.compile(r"\+?\d[\d ().-]{5,}\d"),
    ),
    (
        # A means of travel: "How did Kim leave Russia?" is answered by "aboard his armored train",
        # not by the sentence sharing "home". Not "how did the talks go": that asks how they went.
        re.compile(
            r"\bhow (did|does|do|will|would|is|was|were) ([\w’'-]+ ){1,4}?"
            r"(travel|leave|arrive|depart|commute|journey|get (to|there|home)|return (home|to))\b"
            r"|\bby what (means|mode)\b|\bwhat (means|mode) of (transport|transportation|travel)\b",
            re.I,
        ),
        re.compile(
            r"\b(train|rail(way)?|plane|airplane|aircraft|jet|flight|fl[eo]w|car|limo(usine)?|motorcade|"
            r"convoy|drove|driven|bus|coach|ship|boat|ferry|vessel|yacht|sailed|helicopter|on foot|"
            r"walked|bicycle|bike|taxi|subway|metro)s?\b",
            re.I,
        ),
    ),
    (
        re.compile(r"\b(time|space) complexity\b|\bbig[- ]o\b", re.I),
        re.compile(r"\bO\([^)]*\)|\b(constant|linear|logarithmic|quadratic|exponential|polynomial)\b", re.I),
    ),
    (
        # A version or release: "In which version was X added?" is answered by "New in version
        # 3.9.", not by a sentence about X that gives no version at all.
        re.compile(r"\b(what|which) (\w+ )?(version|release)s?\b", re.I),
        re.compile(r"\b\d+\.\d+(\.\d+)?\b|\b(version|release|v)\s?\d+\b", re.I),
    ),
)


def _asks(*alternatives: str) -> re.Pattern[str]:
    return re.compile("|".join(alternatives), re.IGNORECASE)


_ASKS = [
    (
        AnswerType.SPEECH,
        _asks(
            # Not "how did X react / respond": a reaction can be an act as well as words.
            # Nor "what does the article say about …": that asks for the text, not for speech.
            r"\bwhat (did|does|do|has|had) (?!(the|this) (article|text|document|story|report|page|"
            r"author|passage|documentation|docs?|tutorial)\b)[\w .’'-]+ "
            r"(say|said|think|thought|tell|told|call|write)\b",
        ),
    ),
    (AnswerType.CLOSED_CLASS, _asks(*(asked.pattern for asked, _ in _CLOSED_CLASSES))),
    (
        AnswerType.ROLE,
        _asks(rf"\bwho(’s|'s| is| was| are| were) (the )?(\w+ ){{0,2}}?{_ROLES}s?\b(?= (of|at|for|in)\b)"),
    ),
    (
        AnswerType.NAME,
        _asks(
            # "What is the name of …", not "where does the name of … come from".
            r"\b(what|which)('s| is| was| are| were) the names?\b",
            r"\bwhat (model|brand|make|kind of \w+ is)\b",
            r"\bwhich (\w+ ){0,2}(outlets?|pundits?|compan(y|ies)|factory|firms?|papers?|shows?)\b",
            # Things that go by a proper name: "What ballet did he see?" wants its title.
            r"\b(what|which) (\w+ ){0,2}(universit(y|ies)|colleges?|institutes?|hospitals?|hotels?|"
            r"restaurants?|museums?|airports?|ships?|frigates?|ballets?|operas?|plays?|films?|movies?|"
            r"books?|songs?|newspapers?|channels?|networks?|teams?|clubs?|parties|brands?|airlines?|"
            r"bands?|festivals?|churches|church|banks?|agenc(y|ies)|organi[sz]ations?|"
            r"think tanks?)\b(?! (do|does|did) (you|i)\b)",
        ),
    ),
    (
        AnswerType.NUMBER,
        _asks(
            r"\bhow (many|much|long|old|far|big|large|often|fast|high|tall|heavy|deep|wide)\b",
            r"\bwhat (number|percentage|share|amount)\b",
            r"\bwhat(’s|'s| is| was) the (\w+ )?(number|price|cost|size|population|age|length|height|"
            r"range|speed|weight|distance|duration|capacity)\b",
        ),
    ),
    (
        AnswerType.DATE,
        _asks(
            # "When did …" asks for a date; "What happened when Kim met …" does not, nor does
            # "When combining A with B, where should …?" (a clause before the question).
            r"^\W*when\b(?![^,?]*,)",
            r"\bwhen (did|does|do|is|was|were|will|would|are|has|have|had|can|could|should)\b",
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
        # Asked last of the kinds with a wh-word: "How many bytes … by default?" wants a number.
        AnswerType.DEFAULT,
        # Not "sorted with the default ordering": there the default is not what is asked for.
        _asks(
            r"\b(what|which)('s|’s| is| are| was| were)? (the|its|their) default\b(?! (dict|factory)\b)",
            r"\bby default\b",
            r"\bdefaults? to\b",
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
# Digits inside a designation name a thing, not a quantity: Tu-160, SU-57, MiG-31, Tu-22M3, H2O.
# "one-on-one", "one of", "one another" use "one" without counting anything.
_NOT_A_QUANTITY = re.compile(
    r"\b[A-Za-z]+-?\d[\w-]*|\bone-(on|to)-one\b|\bone (of|another)\b|\bno one\b"
    # Versions and standards: "Since Python 3.0", "PEP 3120", "ISO 8601" count nothing.
    r"|\b(python|version|release|pep|rfc|iso|ieee|ecma)\s+\d[\d.]*\b",
    re.IGNORECASE,
)
_YEAR_QUESTION = re.compile(r"\b(what|which) year\b", re.IGNORECASE)
_YEAR = re.compile(r"\b(1[5-9]\d\d|20\d\d)s?\b|\b(last|this|next|that) year\b", re.IGNORECASE)
_DATE = re.compile(
    r"\b(1[89]\d\d|20\d\d)\b|\b(january|february|march|april|may|june|july|august|september|"
    r"october|november|december|monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
    r"yesterday|today|tomorrow|week|month|year|decade|century|ago|since|until|during|later|earlier)\b",
    re.I,
)
# When something happened: a date, a weekday, a relative day or period. Not the connectives the
# general pattern also takes ("during the trip", "since then", "later"): they place an event
# relative to another without saying when it was.
_EVENT_DATE = re.compile(
    r"\b(1[89]\d\d|20\d\d)\b|\b(january|february|march|april|may|june|july|august|september|"
    r"october|november|december|monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
    r"yesterday|today|tomorrow|week|month|year|decade|century|ago)\b",
    re.I,
)
# An age: "38 years old", "a 39-year-old", "aged 40", "born in 1984".
_AGE = re.compile(
    rf"\b(\d+|{_NUMBER_WORDS})[- ]years?[- ]old\b|\baged? \d+|\bborn (in |on )?\w*\s?\d{{4}}\b",
    re.I,
)
_AGE_QUESTION = re.compile(r"\bhow old\b|\bwhat is the age\b|\bwhat age\b", re.I)
# A capitalised word that does not start the sentence: a name, a title, a place.
_PROPER = re.compile(r"(?<![.!?“\"]\s)(?<!^)\b[A-Z][a-z]+")
_PERSON = re.compile(
    r"\b(Mr|Mrs|Ms|Dr|President|Minister|General|Gen)\b\.?|\b[A-Z][a-z]+ [A-Z][a-z]+(-[a-z]+)?\b"
)
_PLACE = re.compile(
    r"\b([Ii]n|[Aa]t|[Tt]o|[Ff]rom|[Nn]ear|[Aa]cross|[Aa]round|[Aa]board|visited|toured)\s+(the\s+)?[A-Z]"
)
_REASON = re.compile(
    r"\b(because|since|so that|in order|to (help|get|gain|secure|show|replenish|boost|support)|"
    r"due to|as a result|for (fear|the sake)|aims?|goal|reason|purpose|need|needs|seeks?|wants?|"
    r"hopes?|would|could|in exchange|in return)\b",
    re.I,
)

_SPEECH_SENTENCE = re.compile(
    r"[“”\"]|\b(said|says|told|wrote|added|argued|stated|according to|called|described)\b", re.I
)
# Who a speech question asks about: "What did Alex Neill say …" -> "Alex Neill". Not "what did
# X call Y": that asks for a label, which X may give by showing as well as by saying.
_SPEAKER_ASKED = re.compile(
    r"\bwhat (?:did|does|do|has|had) ([\w .’'-]+?) (?:say|said|think|thought|tell|told|write)\b",
    re.IGNORECASE,
)
_NOT_A_SPEAKER = frozenset(
    {"he", "she", "they", "it", "we", "you", "i", "people", "someone", "anyone", "others", "experts"}
)
_SPEECH_VERBS = r"(said|says|say|told|tells|wrote|writes|added|argued|stated|asked|called|described|warned)"
_NAME_TITLES = frozenset({"mr", "mrs", "ms", "dr", "the", "a", "an"})


@lru_cache(maxsize=1024)
def _speaker_names(question: str) -> tuple[str, ...]:
    """The words naming whoever a speech question asks about (none for "he", "they" …)."""
    match = _SPEAKER_ASKED.search(question)
    if match is None:
        return ()
    words = [w.strip(".’'").removesuffix("’s").removesuffix("'s") for w in match.group(1).split()]
    words = [w for w in words if w and w.lower() not in _NAME_TITLES]
    if not words or " ".join(words).lower() in _NOT_A_SPEAKER:
        return ()
    capitalised = [w for w in words if w[0].isupper()]
    return tuple(capitalised or words)


@lru_cache(maxsize=1024)
def _speaking(names: tuple[str, ...]) -> re.Pattern[str]:
    """Any of ``names`` given as the one speaking (one pattern per question, compiled once)."""
    words = "|".join(re.escape(name) for name in names)
    word = rf"(?:{words})\w*"  # "Russia" in "Russian", "Kim" in "Kim’s"
    return re.compile(
        rf"\b{_SPEECH_VERBS}\s+(\w[\w.’-]*\s+){{0,3}}{word}\b"
        rf"|\b{word}(\s+[\w-]+){{0,2}}\s+{_SPEECH_VERBS}\b"
        rf"|\b{word}\b[^,.]{{0,20}},[^,]{{0,80}},\s*{_SPEECH_VERBS}\b"
        rf"|\baccording to\s+(\w[\w.’-]*\s+){{0,3}}{word}\b",
        re.IGNORECASE,
    )


def speaks(text: str, names: tuple[str, ...]) -> bool:
    """``text`` gives someone named by ``names`` as the one speaking: "said Alex Neill", "Mr. Chun
    said", "Chun In-bum, a retired general, said", "according to Neill"."""
    return bool(names) and bool(_speaking(names).search(text))


# What a speech question asks about: "What did Neill say about China's role?" -> "China's role".
_SPEECH_TOPIC = re.compile(r"\b(?:say|said|think|thought|tell|told|write)\b.*?\babout\b(.+)$", re.I)
_TOPIC_NAME = re.compile(r"\b[A-Z][\w.’'-]*")


@lru_cache(maxsize=1024)
def _topic_names(question: str) -> tuple[re.Pattern[str], ...]:
    """Names in the topic of a speech question, each as a pattern that also takes its derived
    forms ("China" -> "Chinese", "Russia" -> "Russian"); the speaker is not a topic."""
    match = _SPEECH_TOPIC.search(question)
    if match is None:
        return ()
    speaker = {name.lower() for name in _speaker_names(question)}
    patterns = []
    for word in _TOPIC_NAME.findall(match.group(1)):
        name = word.removesuffix("’s").removesuffix("'s").rstrip("’'?.,")
        if len(name) < 2 or name.lower() in speaker or name.lower() in _NAME_TITLES:
            continue
        if name.isalpha() and len(name) > 4:
            name = name[: max(4, len(name) - 2)]  # the stem: "Chin" of China, "Russ" of Russia
        patterns.append(re.compile(rf"\b{re.escape(name)}", re.I))
    return tuple(patterns)


def _mentions_topic(text: str, question: str) -> bool:
    """The speech quoted speaks about what was asked: a name in the topic appears in it."""
    names = _topic_names(question)
    return not names or any(name.search(text) for name in names)


_ROLE_ASKED = re.compile(rf"\b{_ROLES}s?\b", re.I)


def _holds_role(text: str, question: str) -> bool:
    """A person given in the role the question asks about (a leader for any leader)."""
    asked = _ROLE_ASKED.search(question)
    if asked is None or not _PERSON.search(text):
        return False
    role = asked.group(1).lower()
    roles = _LEADERS if role in _LEADERS else (role,)
    return any(re.search(rf"\b{r}s?\b", text, re.I) for r in roles)


# A sentence stating what holds by default: "It defaults to ','.", "(default: 70)", "If omitted, …".
_DEFAULT_STATED = re.compile(
    r"\bdefault(s|ed)?\b(?!_)|\bif (omitted|not (given|specified|provided|set))\b|\bwhen omitted\b", re.I
)


def _closed_class_member(text: str, question: str) -> bool:
    """A word of the class asked about (a colour for "what colour …?")."""
    return any(asked.search(question) and words.search(text) for asked, words in _CLOSED_CLASSES)


_HAS = {
    AnswerType.NAME: _PROPER,
    AnswerType.SPEECH: _SPEECH_SENTENCE,
    AnswerType.NUMBER: _NUMBER,
    AnswerType.DATE: _DATE,
    AnswerType.PERSON: _PERSON,
    AnswerType.PLACE: _PLACE,
    AnswerType.REASON: _REASON,
}


# A date question about an event: "when did / was / will …", "what year …". "When is X raised?"
# or "when should I …" in documentation asks for a condition, which no date pattern can check.
_EVENT_TIME = re.compile(
    r"\bwhen (did|was|were|will|had)\b|\b(what|which) (year|day|month|date|time)\b"
    r"|\b(in|on) what (year|day|date)\b"
    r"|^\W*when\b(?!\s+(is|are|does|do|can|could|should|would|must|may|might)\b)(?![^,?]*,)",
    re.IGNORECASE,
)


def asks_for_event_time(question: str) -> bool:
    """The date asked for is when something happened or will happen, not a condition."""
    return bool(_EVENT_TIME.search(question))


def expected_type(question: str) -> AnswerType:
    """The first kind of answer the question's wording asks for (``OTHER`` when none)."""
    for kind, pattern in _ASKS:
        if pattern.search(question):
            return kind
    return AnswerType.OTHER


def contains_type(text: str, kind: AnswerType, question: str = "") -> bool:
    """Whether ``text`` holds something of that kind that the question does not already say.

    "How many Tu-160 bombers …?" is not answered by a sentence whose only number is "160", nor
    by one whose numbers are designations ("Tu-95", "MiG-31"). A sentence that itself asks a
    question states no number, date, name or place. A name must be attached to something the
    question mentions ("the Primorsky aquarium", "a factory called …"): any capitalised word
    elsewhere in the sentence does not name the aquarium asked about. Always true for ``OTHER``.
    """
    if kind is AnswerType.ROLE:
        return _holds_role(text, question)
    if kind is AnswerType.CLOSED_CLASS:
        return _closed_class_member(text, question)
    if kind is AnswerType.DEFAULT:
        return bool(_DEFAULT_STATED.search(text))
    pattern = _HAS.get(kind)
    if pattern is None:
        return True
    if kind in _STATED and text.rstrip(" ”’\"'").endswith("?"):
        return False
    asked = question.lower()
    if kind is AnswerType.NUMBER:
        text = _NOT_A_QUANTITY.sub(" ", text)
        if _AGE_QUESTION.search(question):
            pattern = _AGE  # "how old" is not answered by "a six-day tour"
    elif kind is AnswerType.DATE and _YEAR_QUESTION.search(question):
        pattern = _YEAR
    elif kind is AnswerType.DATE and asks_for_event_time(question):
        pattern = _EVENT_DATE
    elif kind is AnswerType.NAME:
        return _attached_name(text, question)
    elif kind is AnswerType.SPEECH:
        # Speech by the person asked about, not any quotation near their name, and about the
        # topic asked ("What did Neill say about China?" is not answered by his words on Russia).
        if not _mentions_topic(text, question):
            return False
        if names := _speaker_names(question):
            return speaks(text, names)
    patterns = [pattern, _PROPER] if kind is AnswerType.PLACE else [pattern]
    for candidate in patterns:
        for match in candidate.finditer(text):
            found = match.group().strip(" .").lower()
            if kind is AnswerType.SPEECH or not found or found not in asked:
                return True
    return False


# Kinds of answer a sentence states as a fact (a quoted question can still tell who asked it).
_STATED = frozenset({AnswerType.NUMBER, AnswerType.DATE, AnswerType.NAME, AnswerType.PLACE})
_WORD = re.compile(r"[\w][\w.()’'-]*|[,;:]")
_TITLE = frozenset({"mr", "mrs", "ms", "dr", "sir"})
# Words that may stand between a name and the thing it names: "the city of X", "a show called X".
_LINKS = frozenset({"the", "a", "an", "of", "called", "named", "known", "as", ","})
_CODE_NAME = re.compile(r"\w[._]\w|\w\(\)")
NAME_REACH = 3  # words between a name and the question's word it names
_AFFILIATION = frozenset({"at", "of", "from", "with", "for"})
AFFILIATION_REACH = 8  # words from a person to the organisation an appositive ties them to


@lru_cache(maxsize=1024)
def _question_words(question: str) -> tuple[frozenset[str], frozenset[str]]:
    """The question's words (lower-cased) and stems, once per question, not once per candidate."""
    return frozenset(w.lower().strip(".") for w in _WORD.findall(question)), frozenset(
        tokenize_query(question)
    )


def _attached_name(text: str, question: str) -> bool:
    """A name (capitalised word or code identifier) the question lacks, next to a question word.

    Between the two only links ("of", "called", a comma), other question words or other name
    words may stand, at most ``NAME_REACH`` words apart.
    """
    asked_words, asked_stems = _question_words(question)
    words = _WORD.findall(text)
    anchors, names, joiners = set(), set(), set()
    for position, word in enumerate(words):
        bare = word.strip(".’'").lower()
        stems = tokenize_query(word)
        if stems and stems[0] in asked_stems:
            anchors.add(position)
        is_name = (position > 0 and word[0].isupper()) or bool(_CODE_NAME.search(word))
        if is_name and bare not in _TITLE:
            if bare in asked_words:
                joiners.add(position)
            else:
                names.add(position)
        if bare in _LINKS:
            joiners.add(position)
    linked = anchors | names | joiners
    for name in names:
        for anchor in anchors:
            low, high = sorted((name, anchor))
            if high - low <= NAME_REACH and all(i in linked for i in range(low + 1, high)):
                return True
        # An affiliation after an appositive: "Alex Neill, a security expert at the Pacific Forum".
        before = [words[i].lower() for i in range(max(0, name - 2), name)]
        if any(w in _AFFILIATION for w in before) and any(
            0 < name - anchor <= AFFILIATION_REACH and "," in words[anchor + 1 : name] for anchor in anchors
        ):
            return True
    return False


# A time the question is pinned to: "in 2019", "last year", "next month".
_TIME_REFERENCE = re.compile(
    r"\b(last|next|this|previous|past) (year|month|week|decade|century)\b"
    r"|(?<![\w.-])(1[5-9]\d\d|20\d\d)(?![\w-]|\.\d)|\b(yesterday|today|tonight|tomorrow)\b",
    re.IGNORECASE,
)
_EXPLICIT_DATE = re.compile(
    r"(?<![\w.-])(1[5-9]\d\d|20\d\d)(?![\w-]|\.\d)|\b(january|february|march|april|may|june|july|"
    r"august|september|october|november|december)\b",
    re.IGNORECASE,
)


def time_unmatched(question: str, texts: list[str]) -> bool:
    """The question is pinned to a time ("in 2019", "last year") that the evidence never states.

    A year must appear as such; a relative time ("last year") must appear as said or be given
    as a date (a year or a month). Evidence about some other time does not answer the question.
    """
    evidence = " ".join(texts).lower()
    for match in _TIME_REFERENCE.finditer(question):
        said = match.group().lower()
        if said in evidence:
            continue
        if not said[0].isdigit() and _EXPLICIT_DATE.search(evidence):
            continue
        return True
    return False
