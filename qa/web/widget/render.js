// DOM building without HTML parsing: every string from the server or the corpus becomes a text
// node, so markup in a document or an answer shows up literally and never runs.

const SVG = "http://www.w3.org/2000/svg";
// Stroke icons (24x24 paths in the style of Feather icons); constants, never data.
const ICONS = {
  chat: "M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z",
  close: "M18 6 6 18M6 6l12 12",
  send: "M22 2 11 13M22 2l-7 20-4-9-9-4z",
  plus: "M12 5v14M5 12h14",
  copy: "M9 9h11v11H9zM5 15H4V4h11v1",
  up: "M7 10v12M15 5.9 14 10h5.8a2 2 0 0 1 2 2.3l-1.4 8A2 2 0 0 1 18.4 22H7V10l4-8a3 3 0 0 1 4 3.9z",
  down: "M17 14V2M9 18.1 10 14H4.2a2 2 0 0 1-2-2.3l1.4-8A2 2 0 0 1 5.6 2H17v12l-4 8a3 3 0 0 1-4-3.9z",
  external: "M18 13v6a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2V8a2 2 0 0 1 2-2h6M15 3h6v6M10 14 21 3",
  info: "M12 22a10 10 0 1 0 0-20 10 10 0 0 0 0 20zM12 16v-4M12 8h.01",
  retry: "M1 4v6h6M3.5 15a9 9 0 1 0 2.1-9.4L1 10",
};

/** `h("button", {class: "x", onclick: f, "aria-label": "Close"}, "text", node)`: strings become text nodes. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  el.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el; // Element.append turns strings into text nodes
}

/** Replace an element's children, skipping null/false (which `replaceChildren` would print). */
export function replace(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

export function icon(name) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", ICONS[name]);
  svg.append(path);
  return svg;
}

const MARKER = /\[(\d+)\]/g;

/** The answer as text nodes with each `[n]` turned into a citation chip made by `chip(n)`. */
export function answerNodes(text, chip) {
  const nodes = [];
  let last = 0;
  for (const match of text.matchAll(MARKER)) {
    if (match.index > last) nodes.push(document.createTextNode(text.slice(last, match.index)));
    nodes.push(chip(Number(match[1])));
    last = match.index + match[0].length;
  }
  if (last < text.length) nodes.push(document.createTextNode(text.slice(last)));
  return nodes;
}

/** The answer without markers, for screen-reader announcements. */
export function plainAnswer(text) {
  return text.replace(MARKER, "").replace(/\s+([.,;:!?])/g, "$1").trim();
}

/**
 * Citation offsets count Unicode code points (Python strings); JavaScript strings index UTF-16
 * code units. Returns a function mapping a code-point offset to a string index.
 */
export function codePointIndexer(text) {
  if (!/[\uD800-\uDFFF]/.test(text)) return (offset) => offset;
  const indexes = [];
  let index = 0;
  for (const ch of text) {
    indexes.push(index);
    index += ch.length;
  }
  indexes.push(index);
  return (offset) => indexes[Math.min(Math.max(offset, 0), indexes.length - 1)];
}

/** [start, end) of the line-delimited paragraph(s) that contain [start, end). */
export function paragraphBounds(text, start, end) {
  const from = start > 0 ? text.lastIndexOf("\n", start - 1) + 1 : 0;
  // A quote that ends with its line break still belongs to that paragraph alone.
  const stop = end > start && text[end - 1] === "\n" ? end - 1 : end;
  const newline = text.indexOf("\n", stop);
  return [from, newline === -1 ? text.length : newline];
}

/** Cut long context at a word boundary, keeping the side next to the quote. */
function clip(text, limit, keepEnd) {
  if (text.length <= limit) return text;
  if (keepEnd) {
    const cut = text.slice(text.length - limit);
    const space = cut.indexOf(" ");
    return "…" + (space > -1 && space < 40 ? cut.slice(space + 1) : cut);
  }
  const cut = text.slice(0, limit);
  const space = cut.lastIndexOf(" ");
  return (space > limit - 40 ? cut.slice(0, space) : cut) + "…";
}

/**
 * The cited span located by its offsets (never by searching for the quote). `exact` tells
 * whether the document still holds the quote there; a changed document must not be shown as proof.
 */
export function locate(docText, citation) {
  const at = codePointIndexer(docText);
  const start = at(citation.start);
  const end = at(citation.end);
  return { start, end, exact: docText.slice(start, end) === citation.quote };
}

/** The quote highlighted inside its paragraph: `<p>…before<mark>quote</mark>after…</p>`. */
export function passage(docText, citation, contextChars = 360) {
  const { start, end, exact } = locate(docText, citation);
  if (!exact) return { node: h("p", { class: "context" }, h("mark", {}, citation.quote)), exact };
  const [from, to] = paragraphBounds(docText, start, end);
  const before = clip(docText.slice(from, start), contextChars, true);
  const after = clip(docText.slice(end, to), contextChars, false);
  return { node: h("p", { class: "context" }, before, h("mark", {}, docText.slice(start, end)), after), exact };
}
