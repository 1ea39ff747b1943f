// The document reader at /documents/<id>#start=S&end=E: the whole text, the cited span marked by
// its offsets and scrolled into view. Text is only ever inserted as text nodes.
import { codePointIndexer } from "./render.js";

const docId = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "");
const base = new URL("../", location.href);
const titleEl = document.getElementById("doc-title");
const note = document.getElementById("doc-note");
const article = document.getElementById("doc-text");

function span() {
  const params = new URLSearchParams(location.hash.slice(1));
  const start = Number.parseInt(params.get("start") ?? "", 10);
  const end = Number.parseInt(params.get("end") ?? "", 10);
  const key = params.get("key") || "";
  return { start, end, key, valid: Number.isInteger(start) && Number.isInteger(end) && end > start && start >= 0 };
}

/** One <p> per line; the part of [start, end) that falls in a line is wrapped in <mark>. */
function render(text, start, end) {
  const paragraphs = [];
  let first = null;
  let offset = 0;
  for (const line of text.split("\n")) {
    const from = offset;
    const to = offset + line.length;
    offset = to + 1;
    if (!line.trim()) continue;
    const p = document.createElement("p");
    const a = Math.max(start, from);
    const b = Math.min(end, to);
    if (a < b) {
      const mark = document.createElement("mark");
      mark.textContent = text.slice(a, b);
      p.append(text.slice(from, a), mark, text.slice(b, to));
      first ||= mark;
    } else {
      p.textContent = line;
    }
    paragraphs.push(p);
  }
  article.replaceChildren(...paragraphs);
  return first;
}

async function show() {
  const { start, end, key, valid } = span();
  const headers = { Accept: "application/json" };
  if (key) headers.Authorization = `Bearer ${key}`;
  let doc;
  try {
    const response = await fetch(new URL(`v1/documents/${encodeURIComponent(docId)}`, base), { headers });
    const body = await response.json();
    if (!response.ok) throw new Error(body?.error?.message || `HTTP ${response.status}`);
    doc = body;
  } catch (error) {
    titleEl.textContent = "Document unavailable";
    note.textContent = `Couldn't load the document: ${error.message}`;
    return;
  }
  const text = String(doc.text ?? "");
  titleEl.textContent = String(doc.title || docId);
  document.title = titleEl.textContent;
  const at = codePointIndexer(text);
  const mark = render(text, valid ? at(start) : 0, valid ? at(end) : 0);
  if (mark) {
    mark.id = "highlight";
    mark.tabIndex = -1;
    mark.scrollIntoView({ block: "center" });
    mark.focus({ preventScroll: true });
    note.textContent = "The cited passage is highlighted.";
  }
}

show();
window.addEventListener("hashchange", show);
