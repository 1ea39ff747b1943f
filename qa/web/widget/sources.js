// The source sheet: a citation chip opens the cited passage, highlighted inside its paragraph, in a
// sheet docked between the conversation and the input, with a link to the document reader.
// Document text and titles are only ever inserted as text nodes.
import { ApiError } from "./api.js";
import { h, icon, passage, replace } from "./render.js";

/** The reader page for a citation, `documents/<id>#start=S&end=E` (and the key, in the fragment). */
export function documentLink(base, key, citation) {
  const url = new URL(`documents/${encodeURIComponent(citation.doc_id)}`, base);
  const params = new URLSearchParams({ start: String(citation.start), end: String(citation.end) });
  if (key) params.set("key", key); // publishable key, in the fragment: never sent to any server
  url.hash = params.toString();
  return url.href;
}

/**
 * The sheet (`element`, hidden until a chip opens it). `list` is the conversation, scrolled so the
 * chip that opened the sheet stays in sight.
 */
export function createSourceSheet({ client, base, key, list }) {
  const sheet = h("section", {
    class: "source",
    role: "dialog",
    "aria-modal": "false",
    "aria-labelledby": "qa-source-title",
    hidden: true,
  });
  let opener = null; // the chip that opened the sheet; focus returns to it
  let request = 0; // a newer chip (or closing) makes a pending document load stale

  // The sheet shortens the conversation: keep the chip that opened it in sight (only the
  // conversation scrolls, never the host page).
  function keepInSight(el) {
    const box = el.getBoundingClientRect();
    const area = list.getBoundingClientRect();
    if (box.top < area.top + 8 || box.bottom > area.bottom - 8) {
      list.scrollTop += box.top - area.top - area.height / 3;
    }
  }

  async function open(citation, chip) {
    if (!citation) return;
    if (opener) opener.removeAttribute("aria-expanded");
    opener = chip;
    chip.setAttribute("aria-expanded", "true");
    const current = ++request;
    const heading = h(
      "h3",
      { id: "qa-source-title", tabindex: "-1" },
      `Source ${citation.id}`,
      citation.title ? h("span", { class: "doc-title" }, citation.title) : null,
    );
    const body = h("div", { class: "source-body", "aria-busy": "true" }, h("p", { class: "muted" }, "Loading the source…"));
    sheet.replaceChildren(
      h(
        "div",
        { class: "source-head" },
        heading,
        h(
          "button",
          { type: "button", class: "tool", "aria-label": "Close source", title: "Close", onclick: () => close(true) },
          icon("close"),
        ),
      ),
      body,
    );
    sheet.hidden = false;
    heading.focus();
    keepInSight(chip);
    let shown;
    try {
      const doc = await client.document(citation.doc_id);
      if (current !== request) return;
      const { node, exact } = passage(String(doc.text ?? ""), citation);
      shown = [
        h("blockquote", {}, node),
        exact ? null : h("p", { class: "warning" }, "The document has changed since this answer; the quote is shown as cited."),
        h(
          "a",
          { class: "open-doc", href: documentLink(base, key, citation), target: "_blank", rel: "noopener" },
          icon("external"),
          "Open the full document",
        ),
      ];
    } catch (error) {
      if (current !== request) return;
      const why = error instanceof ApiError ? error.message : "unknown error";
      shown = [
        h("blockquote", {}, h("p", { class: "context" }, h("mark", {}, citation.quote))),
        h("p", { class: "warning" }, `Couldn't load the document: ${why}`),
      ];
    }
    replace(body, ...shown);
    body.removeAttribute("aria-busy");
    keepInSight(chip);
  }

  function close(returnFocus) {
    if (sheet.hidden) return;
    request++;
    sheet.hidden = true;
    sheet.replaceChildren();
    if (opener) opener.removeAttribute("aria-expanded");
    if (returnFocus && opener && opener.isConnected) opener.focus();
  }

  return {
    element: sheet,
    open,
    close,
    get isOpen() {
      return !sheet.hidden;
    },
  };
}
