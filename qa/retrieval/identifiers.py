"""Code identifiers a question names, and whether the corpus ever names them.

Technical questions name the API they are about: ``functools.partial``, ``mkstemp()``,
``lru_cache``, ``RotatingFileHandler``, ``PYTHONHASHSEED``. When the documents never name it, no
sentence of theirs can say what it does, however well the rest of the question matches: the
decision refuses (``qa.answering.decision``). Prose words never count, so a question in plain
words is never refused here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_IDENTIFIER = re.compile(
    r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+"  # dotted: os.path.join, str.join
    r"|[A-Za-z_]\w*\(\)"  # called: mkstemp()
    r"|[a-z]\w*_\w+"  # snake_case: lru_cache
    r"|[a-z]+[A-Z]\w*|[A-Z][a-z0-9]+[A-Z]\w*"  # camelCase, CamelCase: RotatingFileHandler
    r"|[A-Z][A-Z0-9_]{3,}"  # CONSTANTS and environment variables: PYTHONHASHSEED
)


def _dotted(text: str) -> str:
    """Paths written with "::" (Rust, C++, Ruby, PHP) as dotted ones: ``Option::take`` is
    ``Option.take``."""
    return text.replace("::", ".")


def _names(text: str) -> Iterable[tuple[str, list[str]]]:
    """Each identifier in ``text``, lower-cased without "()", with its dotted parts."""
    text = _dotted(text)
    for match in _IDENTIFIER.finditer(text):
        start, end = match.span()
        if (start and text[start - 1] in "-./") or (end < len(text) and text[end] in "-/"):
            continue  # part of a path, a URL or a designation, not an identifier of its own
        name = match.group().removesuffix("()").lower()
        parts = name.split(".")
        if any(len(part) < 2 for part in parts):
            continue  # "e.g", "U.S"
        yield name, parts


def named_identifiers(text: str) -> list[str]:
    """The identifiers ``text`` names, each by its last dotted part as written (``pstdev``)."""
    names = (
        match.group().removesuffix("()").rsplit(".", 1)[-1] for match in _IDENTIFIER.finditer(_dotted(text))
    )
    return [name for name in names if len(name) > 1]


def api_names(section: str) -> list[str]:
    """The identifiers a section title names, with the API its signature documents, each by its
    last part as written ("pub const fn take(&mut self)" documents ``take``); empty for a prose
    heading."""
    documented = _signature_name(section)
    names = named_identifiers(section)
    if documented is not None:
        names.append(documented.rsplit(".", 1)[-1])
    return list(dict.fromkeys(names))


def corpus_identifiers(texts: Iterable[str]) -> frozenset[str]:
    """Every identifier the corpus names, whole and by dotted part."""
    known: set[str] = set()
    for text in texts:
        for name, parts in _names(text):
            known.add(name)
            known.update(parts)
    return frozenset(known)


def unknown_identifiers(question: str, known: frozenset[str]) -> list[str]:
    """Identifiers of the question that the corpus never names (neither whole nor by last part).

    A question typed in capitals has no CONSTANTS: its words are only shouted.
    """
    letters = [c for c in question if c.isalpha()]
    shouted = sum(c.isupper() for c in letters) > len(letters) / 2
    return [
        name
        for name, parts in _names(question)
        if name not in known
        and parts[-1] not in known
        and not (shouted and "_" not in name and "." not in name)
    ]


# The signature a reference section is titled with (Sphinx, pydoc, Javadoc): an optional keyword,
# then the name it documents, then its parameters or nothing. "class weakref.WeakSet([elements])",
# "exception shutil.SameFileError", "gc.garbage", "prepare()"; not "Creating virtual environments".
_SIGNATURE = re.compile(
    r"^(?:(?:class|exception|abstractmethod|classmethod|staticmethod|async|await|awaitable|"
    r"coroutine|abstract|static|final|method|function|attribute|data|property|"
    # Rust, JavaScript, Go, C#, Java and Kotlin keywords before the name: "pub const fn is_some(&self)".
    r"pub(?:\([\w ]+\))?|const|unsafe|fn|def|func|fun|public|private|protected|override|"
    r"virtual|export|declare|struct|enum|trait|interface|macro)\s+)*@?"
    r"(?P<name>[A-Za-z_][\w.]*?)\s*(?:<[^()]*?>\s*)?(?:(?P<called>\().*|\[.*)?$"
)
# "What is X?", "What does X do / mean / return?", with an article or a kind word around X.
_KIND_WORDS = r"(?:\s+(?:class|function|method|module|attribute|object|decorator|exception|type|constant))?"
_DEFINITION = re.compile(
    r"^\s*what(?:\s+(?:is|are)|'s|’s)\s+(?:an?\s+|the\s+)?(?P<is>[\w.]+(?:\(\))?)"
    + _KIND_WORDS
    + r"\s*\??\s*$"
    + r"|^\s*what\s+(?:does|do)\s+(?:an?\s+|the\s+)?(?P<does>[\w.]+(?:\(\))?)"
    + _KIND_WORDS
    + r"\s+(?P<verb>do|mean|represent|return)\s*\??\s*$",
    re.IGNORECASE,
)


def _signature_name(section: str) -> str | None:
    match = _SIGNATURE.match(_dotted(section.strip()))
    if match is None:
        return None
    name = match.group("name")
    is_identifier = "." in name or match.group("called") or _IDENTIFIER.fullmatch(name)
    return name if is_identifier and all(len(p) > 1 for p in name.split(".")) else None


def documented_name(section: str) -> str | None:
    """The API name a reference section documents, lower-cased (``weakref.weakset``), or None
    when its title is not a signature."""
    name = _signature_name(section)
    return None if name is None else name.lower()


def defined_name(question: str) -> tuple[str, bool] | None:
    """The identifier a definition question asks about ("What does textwrap.shorten do?",
    "What is a WeakSet?"), lower-cased without "()", and whether it asks what it returns."""
    match = _DEFINITION.match(_dotted(question))
    if match is None:
        return None
    name = match.group("is") or match.group("does")
    if not (name.endswith("()") or _IDENTIFIER.fullmatch(name)):
        return None  # a prose word: "What is recursion?"
    return name.removesuffix("()").lower(), (match.group("verb") or "").lower() == "return"


def names_match(asked: str, documented: str) -> bool:
    """``asked`` names ``documented``: the same dotted name, or one is a dotted tail of the other
    (``shorten`` / ``textwrap.shorten``; ``TopologicalSorter.prepare`` / ``prepare``)."""
    return asked == documented or asked.endswith("." + documented) or documented.endswith("." + asked)


# Any definition question's subject, in words: "What does pyenv local do?", "What is shadowing?".
_SUBJECT = re.compile(
    r"^\s*what(?:\s+(?:is|are)|'s|’s)\s+(?:an?\s+|the\s+)?(?P<is>[^?]{1,60}?)\s*\??\s*$"
    r"|^\s*what\s+(?:does|do)\s+(?:an?\s+|the\s+)?(?P<does>[^?]{1,60}?)\s+(?:do|mean)\s*\??\s*$",
    re.IGNORECASE,
)
_TITLE_NOISE = re.compile(r"[`\"'“”‘’*_]|\(\)$")


def title_key(text: str) -> str:
    """A heading or a question's subject as compared: case, quotes, backticks and "()" aside."""
    return " ".join(_TITLE_NOISE.sub("", text.strip()).casefold().split())


def defined_subject(question: str) -> str | None:
    """What a definition question asks about, as ``title_key`` compares it, or None."""
    match = _SUBJECT.match(question)
    if match is None:
        return None
    return title_key(match.group("is") or match.group("does")) or None
