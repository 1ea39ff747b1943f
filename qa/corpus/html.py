"""Structured text out of HTML: walk the DOM of the page's main content, block by block.

Why a DOM walk (lxml) rather than trafilatura's plain text: the plain text loses what a
reader needs to quote well — which lines are headings, where a code listing starts and ends,
which line breaks are only the source's hard wrapping — and keeps permalink glyphs ("¶").
Like LangChain's HTMLHeaderTextSplitter and Unstructured's element partitioning, we emit
elements (heading, paragraph, list item, code) and carry the heading in effect as metadata.

The main content is the element marked as such (``role="main"``, ``<main>``, ``<article>``,
Sphinx's ``div.body``). A page without one goes through trafilatura's boilerplate removal
first (its XML output keeps headings, lists and code) and the result is walked the same way.
"""

from __future__ import annotations

import re

from lxml import etree, html

from qa.corpus.blocks import TERM_LEVEL, BlockKind, TextBuilder, collapse

_MAIN = (
    "//*[@role='main']",
    "//main",
    "//article",
    "//div[contains(concat(' ', normalize-space(@class), ' '), ' body ')]",
)
_DROP_TAGS = frozenset(
    [
        "script",
        "style",
        "noscript",
        "nav",
        "header",
        "footer",
        "form",
        "button",
        "svg",
        "template",
        "iframe",
        "select",
        "input",
        "textarea",
        "object",
        "canvas",
        "map",
    ]
)
_DROP_ROLES = frozenset({"navigation", "banner", "contentinfo", "search", "complementary"})
_DROP_CLASS = re.compile(
    r"\b(?:headerlink|sphinxsidebar|related|breadcrumbs?|toctree-wrapper|navbar|nav|menu|"
    r"sidebar|skip-?link|hash-link|anchor-link|footnote-reference)\b"
)
# Small titles inside a section ("Note", "Footnotes"): not answers, but they do not open a section.
_LABEL_CLASS = re.compile(r"\b(?:admonition-title|rubric)\b")
_PERMALINK_GLYPHS = frozenset({"", "¶", "§", "#", "🔗", "\u200b"})
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_BLOCKS = frozenset(
    [
        "p",
        "div",
        "section",
        "article",
        "main",
        "aside",
        "li",
        "ul",
        "ol",
        "dl",
        "dd",
        "blockquote",
        "table",
        "thead",
        "tbody",
        "tfoot",
        "tr",
        "figure",
        "figcaption",
        "caption",
        "details",
        "summary",
        "address",
        "center",
        "body",
        "hr",
    ]
)
_CELLS = frozenset({"td", "th"})
# trafilatura's XML vocabulary, mapped onto the HTML elements the walker knows.
_TEI = {
    "list": "ul", "item": "li", "code": "pre", "quote": "blockquote", "row": "tr", "cell": "td", "lb": "br"
}  # fmt: skip


def _dropped(element: etree._Element) -> bool:
    tag = element.tag
    if not isinstance(tag, str):
        return True  # comments and processing instructions
    if tag in _DROP_TAGS:
        return True
    if tag == "aside" and "footnote" not in (element.get("class") or ""):
        return True
    if element.get("role") in _DROP_ROLES or element.get("hidden") is not None:
        return True
    if _DROP_CLASS.search(element.get("class") or ""):
        return True
    if "label" in (element.get("class") or "").split():
        parent = element.getparent()
        if parent is not None and "footnote" in (parent.get("class") or ""):
            return True  # a footnote's "[1]" would be a sentence of its own
    # A permalink: an in-page link whose text is only a glyph (Sphinx "¶", MkDocs "#", ...).
    href = element.get("href") or ""
    return tag == "a" and href.startswith("#") and collapse(element.text_content()) in _PERMALINK_GLYPHS


def _inline(element: etree._Element) -> str:
    """The text of an element, skipping dropped descendants (permalinks, buttons)."""
    parts = [element.text or ""]
    for child in element:
        if not _dropped(child):
            parts.append(_inline(child))
        parts.append(child.tail or "")
    return "".join(parts)


class _Walker:
    def __init__(self, title: str) -> None:
        self.out = TextBuilder()
        self.title = title
        self._buffer: list[str] = []
        self._kind: BlockKind = "text"
        self._terms = 0  # depth of nested definition lists
        self._term = ""  # the section title of the last definition term(s)

    def flush(self) -> None:
        text = "".join(self._buffer)
        self._buffer = []
        self.out.add(text, self._kind)

    def walk(self, element: etree._Element) -> None:
        if _dropped(element):
            return
        tag = str(element.tag)
        if tag in _HEADINGS:
            self.flush()
            text = collapse(_inline(element))
            # The <h1> repeating the page title is the title: shown once, not quoted as an answer.
            show = not (_HEADINGS[tag] == 1 and text.casefold() == self.title.casefold())
            self.out.heading(text, _HEADINGS[tag], show=show)
        elif tag == "dt":
            self.flush()
            term = collapse(_inline(element))
            previous = element.getprevious()
            # Terms listed together share one description (operator.lshift and
            # operator.__lshift__, the five Fraction constructors): it sits under all of them.
            together = previous is not None and previous.tag == "dt" and self._term != ""
            self._term = f"{self._term}, {term}" if together else term
            self.out.heading(term, TERM_LEVEL + self._terms, section=self._term)
        elif tag == "pre":
            self.flush()
            self.out.add(_inline(element), "code")
        elif _LABEL_CLASS.search(element.get("class") or ""):
            self.flush()
            self.out.add(_inline(element), "heading")
        elif tag in _BLOCKS:
            self._block(element, tag)
        else:
            self._buffer.append(" " if tag in ("br", "hr") else "")
            self._children(element)
            if tag in _CELLS:
                self._buffer.append(" | ")

    def _block(self, element: etree._Element, tag: str) -> None:
        if tag == "p" and self._kind in ("item", "row"):
            # The paragraphs of one list item stay one unit (Sphinx wraps item text in <p>).
            self._buffer.append(" ")
            self._children(element)
            self._buffer.append(" ")
            return
        self.flush()
        outer = self._kind
        if tag in ("li", "tr"):
            self._kind = "item" if tag == "li" else "row"  # each is a unit of its own
        if tag == "dl":
            self._terms += 1
        self._children(element)
        if tag == "tr":
            self._buffer = ["".join(self._buffer).rstrip().removesuffix("|")]
        self.flush()
        if tag == "dl":
            self.out.close(TERM_LEVEL + self._terms - 1)  # the last term's section ends with its list
            self._terms -= 1
        self._kind = outer

    def _children(self, element: etree._Element) -> None:
        self._buffer.append(element.text or "")
        for child in element:
            self.walk(child)
            self._buffer.append(child.tail or "")


def _page_title(root: etree._Element, main: etree._Element) -> str:
    """The page's own <h1> when the <title> merely decorates it ("X — Site docs"), else <title>."""
    title = collapse(" ".join(root.xpath("//title//text()")))
    first = main.xpath(".//h1")
    heading = collapse(_inline(first[0])) if first else ""
    if heading and (not title or heading.casefold() in title.casefold()):
        return heading
    return title or heading


def _main_from_trafilatura(data: bytes) -> tuple[etree._Element, str] | None:
    import trafilatura

    result = trafilatura.extract(
        data, output_format="xml", with_metadata=True, include_comments=False,
        include_tables=True, include_formatting=False, favor_recall=True,
    )  # fmt: skip
    if not result:
        return None
    doc = etree.fromstring(result.encode("utf-8"))
    main = doc.find("main")
    if main is None:
        return None
    for element in main.iter():
        if element.tag == "head":
            level = re.search(r"[1-6]", element.get("rend") or "")
            element.tag = f"h{level.group(0) if level else 2}"
        elif element.tag in _TEI:
            element.tag = _TEI[str(element.tag)]
    return main, collapse(doc.get("title") or "")


def structured_html(data: bytes) -> tuple[str, str, TextBuilder]:
    """(title, text, builder) of a page; the text is empty when it has no main content."""
    try:
        root = html.fromstring(data)
    except (etree.ParserError, ValueError):
        return "", "", TextBuilder()
    main = next((found[0] for query in _MAIN if (found := root.xpath(query))), None)
    if main is not None:
        title = _page_title(root, main)
    else:
        fallback = _main_from_trafilatura(data)
        if fallback is None:
            return "", "", TextBuilder()
        main, title = fallback
    walker = _Walker(title)
    walker.walk(main)
    walker.flush()
    return title, walker.out.text(), walker.out
