"""Prompt templates for LLM mode (Jinja2, in ``prompts/``), checked for their variables at start-up.

Corpus text, questions and history are untrusted: they reach the templates as data only (never as
template source), flattened to one line and with angle brackets swapped for look-alikes, so they
cannot close the ``<<<SOURCES … SOURCES>>>`` fence or fake a new numbered source line.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypedDict

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, TemplateError, meta

from qa.contract import Turn
from qa.errors import NotReadyError

log = logging.getLogger("qa.answering.prompts")

# The source tree's prompts/; a non-editable install (the Docker image) uses ./prompts instead.
DEFAULT_PROMPTS_DIR = Path(__file__).resolve().parents[2] / "prompts"
# What the model is told to say when the sources do not answer; we detect it exactly.
REFUSAL_TOKEN = "NOT_IN_SOURCES"

# Each template and the variables it must use (and may use): a template that forgets the
# question or the sources would silently produce ungrounded answers, so it is refused at start-up.
REQUIRED_VARIABLES: dict[str, frozenset[str]] = {
    "answer_system.j2": frozenset({"max_sentences", "refusal_token"}),
    "answer.j2": frozenset({"sentences", "question", "max_sentences"}),
    "rewrite.j2": frozenset({"history", "question"}),
}


class PromptError(NotReadyError):
    code = "prompt_error"
    public_message = "The LLM prompt templates are invalid; see the server log."


class ChatMessage(TypedDict):
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True, slots=True)
class NumberedSentence:
    """A source sentence as the model sees it: its citation number and its (fenced) text."""

    number: int
    text: str


def fence(text: str) -> str:
    """Untrusted text made safe to place between our delimiters (one line, no angle brackets)."""
    return " ".join(text.replace("<", "‹").replace(">", "›").split())


@dataclass(frozen=True, slots=True)
class PromptSet:
    answer_system: Template
    answer: Template
    rewrite: Template

    def answer_messages(
        self,
        question: str,
        sentences: Sequence[NumberedSentence],
        max_sentences: int,
        system_in_user: bool = False,
    ) -> list[ChatMessage]:
        fenced = [NumberedSentence(s.number, fence(s.text)) for s in sentences]
        system = self.answer_system.render(max_sentences=max_sentences, refusal_token=REFUSAL_TOKEN)
        user = self.answer.render(sentences=fenced, question=fence(question), max_sentences=max_sentences)
        if system_in_user:
            return [{"role": "user", "content": f"{system.strip()}\n\n{user.strip()}"}]
        return [{"role": "system", "content": system.strip()}, {"role": "user", "content": user.strip()}]

    def rewrite_messages(self, question: str, history: Sequence[Turn]) -> list[ChatMessage]:
        turns = [Turn(role=t.role, content=fence(t.content)) for t in history]
        user = self.rewrite.render(history=turns, question=fence(question))
        return [{"role": "user", "content": user.strip()}]


def default_prompts_dir() -> Path:
    """``./prompts`` when the working directory has one (like ``corpus/``), else the source tree's."""
    local = Path("prompts")
    return local if local.is_dir() else DEFAULT_PROMPTS_DIR


def load_prompts(directory: Path | None = None) -> PromptSet:
    """Load and check every template; raise ``PromptError`` naming what is wrong."""
    directory = directory or default_prompts_dir()
    # Plain text, not HTML: autoescape would mangle quotes; StrictUndefined fails loudly on typos.
    environment = Environment(
        loader=FileSystemLoader(directory),
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )
    templates: dict[str, Template] = {}
    for name, required in REQUIRED_VARIABLES.items():
        path = directory / name
        try:
            source = path.read_text(encoding="utf-8")
            used = meta.find_undeclared_variables(environment.parse(source)) - set(environment.globals)
            templates[name] = environment.get_template(name)
        except (OSError, TemplateError) as exc:
            log.error("prompt template %s: %s", path, exc)
            raise PromptError(f"Prompt template {path} cannot be loaded: {exc}") from exc
        missing, unknown = required - used, used - required
        if missing or unknown:
            problems = []
            if missing:
                problems.append(f"missing variables {sorted(missing)}")
            if unknown:
                problems.append(f"unknown variables {sorted(unknown)}")
            log.error("prompt template %s: %s", path, "; ".join(problems))
            raise PromptError(f"Prompt template {path}: {'; '.join(problems)}.")
    return PromptSet(
        answer_system=templates["answer_system.j2"],
        answer=templates["answer.j2"],
        rewrite=templates["rewrite.j2"],
    )
