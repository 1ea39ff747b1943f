// The row under a finished answer: copy it (with its sources), thumbs up, or thumbs down with an
// optional comment; a rating goes to POST /v1/feedback and counts only once the server accepts it.
import { ApiError } from "./api.js";
import { h, icon } from "./render.js";

/** The answer as copied: its text, then one line per source. */
export function copyText(message) {
  const sources = message.citations.map((c) => `[${c.id}] “${c.quote}”${c.title ? ` (${c.title})` : ""}`);
  return sources.length ? `${message.text}\n\nSources:\n${sources.join("\n")}` : message.text;
}

/** The actions of one bot message; `save()` persists the rating once the server has it. */
export function answerActions(message, { client, save }) {
  const status = h("span", { class: "status", role: "status" });
  const thumb = (rating, label) =>
    h(
      "button",
      {
        type: "button",
        class: "tool thumb",
        "aria-label": label,
        title: label,
        "aria-pressed": String(message.rating === rating),
        hidden: !message.messageId,
      },
      icon(rating),
    );
  const up = thumb("up", "Helpful");
  const down = thumb("down", "Not helpful");
  const copy = h(
    "button",
    {
      type: "button",
      class: "tool",
      "aria-label": "Copy answer",
      title: "Copy answer",
      onclick: async () => {
        try {
          await navigator.clipboard.writeText(copyText(message));
          status.textContent = "Copied.";
        } catch {
          status.textContent = "Couldn't copy; select the text instead.";
        }
      },
    },
    icon("copy"),
  );
  const wrap = h("div", { class: "actions" }, h("div", { class: "row" }, copy, up, down, status));
  let comment = null;

  async function rate(rating, note) {
    up.disabled = down.disabled = true;
    status.textContent = "Sending…";
    try {
      await client.feedback(message.messageId, rating, note);
      message.rating = rating;
      save();
      status.textContent = "Thanks for the feedback.";
      if (comment) toggleComment(false);
    } catch (error) {
      const why = error instanceof ApiError ? error.message : "try again later";
      status.textContent = `Couldn't send feedback: ${why}`;
    } finally {
      up.disabled = down.disabled = false;
      up.setAttribute("aria-pressed", String(message.rating === "up"));
      down.setAttribute("aria-pressed", String(message.rating === "down"));
    }
  }

  // Thumbs down asks what was wrong first (optional), then sends rating and comment together.
  function toggleComment(focusBack = true) {
    if (comment) {
      comment.remove();
      comment = null;
      down.setAttribute("aria-expanded", "false");
      if (focusBack) down.focus();
      return;
    }
    const note = h("textarea", {
      rows: 2,
      maxlength: 1000,
      "aria-label": "What was wrong? (optional)",
      placeholder: "What was wrong? (optional)",
      onkeydown: (event) => {
        if (event.key === "Escape") {
          event.stopPropagation();
          toggleComment();
        }
      },
    });
    comment = h(
      "form",
      {
        class: "comment",
        onsubmit: (event) => {
          event.preventDefault();
          rate("down", note.value.trim());
        },
      },
      note,
      h(
        "div",
        { class: "row" },
        h("button", { type: "submit", class: "small primary" }, "Send feedback"),
        h("button", { type: "button", class: "small", onclick: () => toggleComment() }, "Cancel"),
      ),
    );
    wrap.append(comment);
    down.setAttribute("aria-expanded", "true");
    note.focus();
  }

  up.addEventListener("click", () => rate("up"));
  down.addEventListener("click", () => toggleComment());
  return wrap;
}
