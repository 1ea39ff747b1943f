// The chat widget: a launcher and panel (or a full page) inside a Shadow DOM, so the host page's
// CSS cannot reach in and ours cannot leak out. Configured by the script tag's data-* attributes.
import { ApiError, createClient } from "./api.js";
import { answerNodes, h, icon, passage, plainAnswer, replace } from "./render.js";
import { createStore } from "./store.js";

const MAX_STARTERS = 6;

/** `data-starters`: a JSON array or "|"-separated questions; null when absent (use the server's). */
function parseStarters(value) {
  if (value === undefined) return null;
  let list;
  try {
    list = JSON.parse(value);
  } catch {
    list = value.split("|");
  }
  if (!Array.isArray(list)) list = [String(list)];
  return list.map((q) => String(q).trim()).filter(Boolean).slice(0, MAX_STARTERS);
}

function citationsFrom(raw) {
  if (!Array.isArray(raw)) return [];
  return raw
    .filter((c) => c && Number.isInteger(c.id) && Number.isInteger(c.start) && Number.isInteger(c.end))
    .map((c) => ({
      id: c.id,
      doc_id: String(c.doc_id),
      quote: String(c.quote ?? ""),
      start: c.start,
      end: c.end,
      title: c.title == null ? null : String(c.title),
    }));
}

function copyText(message) {
  const sources = message.citations.map((c) => `[${c.id}] “${c.quote}”${c.title ? ` (${c.title})` : ""}`);
  return sources.length ? `${message.text}\n\nSources:\n${sources.join("\n")}` : message.text;
}

export function mount(script, base) {
  const data = script.dataset;
  const mode = data.mode === "page" ? "page" : "launcher";
  const key = data.key || "";
  const client = createClient(base, key);
  const store = createStore(base);
  const state = store.load();
  const text = {
    title: data.title || "Ask the article",
    notFound: data.notFoundLabel || "Not in the article",
    greeting: data.greeting || "Ask a question about the article. Every answer links to the passage it comes from.",
    placeholder: data.placeholder || "Ask a question…",
  };
  let starters = parseStarters(data.starters);
  let busy = null; // the AbortController of the answer being streamed
  const views = new Map(); // message object → its <article>

  // ---- the host element and its shadow root ------------------------------------------------
  const host = document.createElement("qa-chat");
  host.dataset.mode = mode;
  host.dataset.theme = ["light", "dark"].includes(data.theme) ? data.theme : "auto";
  host.dataset.position = data.position === "left" ? "left" : "right";
  if (data.accent) host.style.setProperty("--qa-accent", data.accent);
  host.style.visibility = "hidden"; // until the stylesheet has loaded: no flash of unstyled widget
  const root = host.attachShadow({ mode: "open" });
  const stylesheet = h("link", { rel: "stylesheet", href: new URL("widget/widget.css", base).href });
  const reveal = () => host.style.removeProperty("visibility");
  stylesheet.addEventListener("load", reveal);
  stylesheet.addEventListener("error", reveal);

  // ---- static structure -----------------------------------------------------------------------
  // The full page has no other heading: there the title is the page's h1.
  const title = h(mode === "page" ? "h1" : "h2", { id: "qa-title", class: "title" }, text.title);
  const live = h("div", { class: "sr-only", role: "status", "aria-live": "polite", "aria-atomic": "true" });
  const list = h("section", { class: "messages", "aria-label": "Conversation", tabindex: "-1" });
  const input = h("textarea", {
    class: "input",
    rows: 1,
    maxlength: 2000,
    placeholder: text.placeholder,
    "aria-label": "Your question",
    enterkeyhint: "send",
    onkeydown: (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        submit();
      }
    },
    oninput: autosize,
  });
  const sendButton = h("button", { type: "submit", class: "send", "aria-label": "Send", title: "Send" }, icon("send"));
  const composer = h(
    "form",
    {
      class: "composer",
      onsubmit: (event) => {
        event.preventDefault();
        submit();
      },
    },
    input,
    sendButton,
  );
  const newButton = h(
    "button",
    { type: "button", class: "tool new", title: "New conversation", onclick: newConversation },
    icon("plus"),
    h("span", {}, "New"),
  );
  newButton.setAttribute("aria-label", "New conversation");
  const closeButton =
    mode === "launcher"
      ? h(
          "button",
          { type: "button", class: "tool close", "aria-label": "Close chat", title: "Close", onclick: () => setOpen(false) },
          icon("close"),
        )
      : null;
  const source = h("section", {
    class: "source",
    role: "dialog",
    "aria-modal": "false",
    "aria-labelledby": "qa-source-title",
    hidden: true,
  });
  const panel = h(
    "section",
    {
      class: "panel",
      id: "qa-panel",
      role: mode === "launcher" ? "dialog" : "region",
      "aria-labelledby": "qa-title",
      hidden: mode === "launcher",
    },
    h("div", { class: "head" }, title, newButton, closeButton),
    list,
    source,
    composer,
    live,
  );
  const launcherLabel = h("span", { class: "label" }, text.title);
  const launcher =
    mode === "launcher"
      ? h(
          "button",
          {
            type: "button",
            class: "launcher",
            "aria-expanded": "false",
            "aria-controls": "qa-panel",
            onclick: () => setOpen(panel.hidden),
          },
          icon("chat"),
          launcherLabel,
        )
      : null;
  root.append(stylesheet, h("div", { class: "qa" }, panel, launcher));

  // On a phone the open panel covers the page, so it behaves as a modal dialog: Tab cycles inside.
  const phone = window.matchMedia("(max-width: 520px)");
  const focusables = () =>
    Array.from(panel.querySelectorAll("button, textarea, a[href]")).filter(
      (el) => !el.disabled && el.getClientRects().length > 0,
    );
  root.addEventListener("keydown", (event) => {
    if (event.key === "Tab" && mode === "launcher" && !panel.hidden && phone.matches) {
      const items = focusables();
      const first = items[0];
      const last = items[items.length - 1];
      if (event.shiftKey ? root.activeElement === first : root.activeElement === last) {
        event.preventDefault();
        (event.shiftKey ? last : first).focus();
      }
      return;
    }
    if (event.key !== "Escape") return;
    if (!source.hidden) {
      event.preventDefault();
      closeSource(true);
    } else if (mode === "launcher" && !panel.hidden) {
      event.preventDefault();
      setOpen(false);
    }
  });

  // ---- behaviour ------------------------------------------------------------------------------
  function save() {
    store.save(state);
  }

  function announce(message) {
    live.textContent = message;
  }

  function autosize() {
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight, 140)}px`;
  }

  function setOpen(open, { focus = true } = {}) {
    if (mode !== "launcher") return;
    panel.hidden = !open;
    panel.setAttribute("aria-modal", String(phone.matches));
    host.dataset.open = String(open);
    launcher.setAttribute("aria-expanded", String(open));
    state.open = open;
    save();
    if (!open) closeSource(false);
    if (open) scrollToEnd(true);
    if (focus) (open ? input : launcher).focus();
  }

  function setBusy(controller) {
    busy = controller;
    sendButton.disabled = Boolean(controller);
    list.setAttribute("aria-busy", String(Boolean(controller)));
  }

  function scrollToEnd(force = false) {
    const nearEnd = list.scrollHeight - list.scrollTop - list.clientHeight < 96;
    if (force || nearEnd) list.scrollTop = list.scrollHeight;
  }

  function submit() {
    const question = input.value.trim();
    if (!question || busy) return;
    input.value = "";
    autosize();
    ask(question);
  }

  async function ask(question, retrying = null) {
    if (busy) return;
    let bot = retrying;
    if (bot) {
      Object.assign(bot, { state: "streaming", text: "", citations: [], answerable: null, error: null });
      fill(bot);
    } else {
      const user = { role: "user", text: question };
      bot = { role: "bot", question, state: "streaming", text: "", citations: [], answerable: null };
      if (!state.messages.length) list.replaceChildren(); // the introduction gives way
      state.messages.push(user, bot);
      list.append(view(user), view(bot));
    }
    save();
    scrollToEnd(true);
    const controller = new AbortController();
    setBusy(controller);
    try {
      await client.chat({
        message: question,
        conversationId: state.conversationId,
        signal: controller.signal,
        onEvent(name, payload) {
          if (!payload || typeof payload !== "object") return;
          if (payload.conversation_id) state.conversationId = String(payload.conversation_id);
          if (name === "delta") {
            bot.text += String(payload.text ?? "");
          } else if (name === "citations") {
            bot.citations = citationsFrom(payload.citations);
          } else if (name === "done") {
            bot.text = String(payload.answer ?? bot.text);
            bot.citations = citationsFrom(payload.citations);
            bot.answerable = payload.answerable !== false;
            bot.messageId = payload.message_id ? String(payload.message_id) : null;
            bot.state = "done";
            const said = plainAnswer(bot.text);
            announce(bot.answerable ? `Answer: ${said}` : `${text.notFound}. ${said}`);
          } else {
            return;
          }
          fill(bot);
          scrollToEnd();
        },
      });
    } catch (error) {
      if (error && error.name === "AbortError") return;
      const problem = error instanceof ApiError ? error : new ApiError("error", "Something went wrong. Try again.");
      bot.state = "error";
      bot.error = {
        code: problem.code,
        message: problem.message,
        retryAt: problem.retryAfter ? Date.now() + problem.retryAfter * 1000 : 0,
      };
      fill(bot);
      announce(problem.message);
    } finally {
      if (busy === controller) {
        setBusy(null);
        save();
      }
    }
  }

  function newConversation() {
    if (busy) {
      busy.abort();
      setBusy(null);
    }
    closeSource(false);
    state.conversationId = null;
    state.messages = [];
    save();
    render();
    announce("New conversation started.");
    input.focus();
  }

  // ---- views ----------------------------------------------------------------------------------
  function render() {
    views.clear();
    list.replaceChildren(...(state.messages.length ? state.messages.map(view) : [intro()]));
  }

  function intro() {
    const items = (starters || []).map((question) =>
      h("li", {}, h("button", { type: "button", class: "starter", onclick: () => ask(question) }, question)),
    );
    return h(
      "div",
      { class: "intro" },
      h("p", {}, text.greeting),
      items.length ? h("ul", { class: "starters", "aria-label": "Suggested questions" }, items) : null,
    );
  }

  function view(message) {
    const article = h("article", { class: `msg ${message.role}` });
    views.set(message, article);
    fill(message);
    return article;
  }

  function fill(message) {
    const article = views.get(message);
    if (!article) return;
    if (message.role === "user") {
      article.replaceChildren(h("p", { class: "text" }, message.text));
      return;
    }
    article.dataset.state = message.state;
    if (message.answerable === false) article.dataset.answerable = "false";
    else delete article.dataset.answerable;
    replace(
      article,
      message.answerable === false ? h("p", { class: "badge" }, icon("info"), text.notFound) : null,
      message.text ? h("p", { class: "text" }, answerNodes(message.text, (n) => chip(message, n))) : null,
      message.state === "streaming" && !message.text
        ? h("p", { class: "typing", "aria-hidden": "true" }, h("span"), h("span"), h("span")) // aria-busy says it
        : null,
      message.state === "error" ? failure(message) : null,
      message.state === "done" ? actions(message) : null,
    );
  }

  function chip(message, n) {
    const citation = message.citations.find((c) => c.id === n);
    if (!citation && message.state !== "streaming") return document.createTextNode(`[${n}]`);
    const label = citation && citation.title ? `Source ${n}: ${citation.title}` : `Source ${n}`;
    return h(
      "button",
      {
        type: "button",
        class: "chip",
        "aria-label": label,
        "aria-haspopup": "dialog",
        disabled: !citation,
        onclick: (event) => openSource(citation, event.currentTarget),
      },
      String(n),
    );
  }

  function failure(message) {
    const retry = h(
      "button",
      { type: "button", class: "retry", onclick: () => ask(message.question, message) },
      icon("retry"),
      h("span", {}, "Retry"),
    );
    let first = true;
    const wait = () => {
      const seconds = Math.ceil((message.error.retryAt - Date.now()) / 1000);
      retry.disabled = seconds > 0;
      retry.lastChild.textContent = seconds > 0 ? `Retry in ${seconds}s` : "Retry";
      if (seconds > 0 && (first || retry.isConnected)) setTimeout(wait, Math.min(1000, seconds * 1000));
      first = false;
    };
    if (message.error.retryAt) wait();
    return h("div", { class: "error" }, h("p", {}, message.error.message), retry);
  }

  function actions(message) {
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

  // ---- the cited passage ----------------------------------------------------------------------
  let sourceOpener = null;
  let sourceRequest = 0;

  function documentLink(citation) {
    const url = new URL(`documents/${encodeURIComponent(citation.doc_id)}`, base);
    const params = new URLSearchParams({ start: String(citation.start), end: String(citation.end) });
    if (key) params.set("key", key); // publishable key, in the fragment: never sent to any server
    url.hash = params.toString();
    return url.href;
  }

  async function openSource(citation, opener) {
    if (!citation) return;
    if (sourceOpener) sourceOpener.removeAttribute("aria-expanded");
    sourceOpener = opener;
    opener.setAttribute("aria-expanded", "true");
    const request = ++sourceRequest;
    const heading = h(
      "h3",
      { id: "qa-source-title", tabindex: "-1" },
      `Source ${citation.id}`,
      citation.title ? h("span", { class: "doc-title" }, citation.title) : null,
    );
    const body = h("div", { class: "source-body", "aria-busy": "true" }, h("p", { class: "muted" }, "Loading the source…"));
    source.replaceChildren(
      h(
        "div",
        { class: "source-head" },
        heading,
        h(
          "button",
          { type: "button", class: "tool", "aria-label": "Close source", title: "Close", onclick: () => closeSource(true) },
          icon("close"),
        ),
      ),
      body,
    );
    source.hidden = false;
    heading.focus();
    keepInSight(opener);
    let shown;
    try {
      const doc = await client.document(citation.doc_id);
      if (request !== sourceRequest) return;
      const { node, exact } = passage(String(doc.text ?? ""), citation);
      shown = [
        h("blockquote", {}, node),
        exact ? null : h("p", { class: "warning" }, "The document has changed since this answer; the quote is shown as cited."),
        h(
          "a",
          { class: "open-doc", href: documentLink(citation), target: "_blank", rel: "noopener" },
          icon("external"),
          "Open the full document",
        ),
      ];
    } catch (error) {
      if (request !== sourceRequest) return;
      const why = error instanceof ApiError ? error.message : "unknown error";
      shown = [
        h("blockquote", {}, h("p", { class: "context" }, h("mark", {}, citation.quote))),
        h("p", { class: "warning" }, `Couldn't load the document: ${why}`),
      ];
    }
    replace(body, ...shown);
    body.removeAttribute("aria-busy");
    keepInSight(opener);
  }

  // The sheet shortens the conversation: keep the chip that opened it in sight (only the
  // conversation scrolls, never the host page).
  function keepInSight(el) {
    const box = el.getBoundingClientRect();
    const area = list.getBoundingClientRect();
    if (box.top < area.top + 8 || box.bottom > area.bottom - 8) {
      list.scrollTop += box.top - area.top - area.height / 3;
    }
  }

  function closeSource(returnFocus) {
    if (source.hidden) return;
    sourceRequest++;
    source.hidden = true;
    source.replaceChildren();
    if (sourceOpener) sourceOpener.removeAttribute("aria-expanded");
    if (returnFocus && sourceOpener && sourceOpener.isConnected) sourceOpener.focus();
  }

  // ---- start ----------------------------------------------------------------------------------
  for (const message of state.messages) {
    if (message.role === "bot" && message.state === "streaming") {
      message.state = "error"; // the page was reloaded mid-answer
      message.error = { code: "interrupted", message: "This answer was interrupted. Try again.", retryAt: 0 };
    }
    if (!Array.isArray(message.citations)) message.citations = [];
  }
  render();
  let target = null;
  try {
    target = data.target ? document.querySelector(data.target) : null;
  } catch {
    target = null; // an invalid selector: fall back to the body
  }
  (target || document.body).append(host);
  if (mode === "launcher") setOpen(Boolean(state.open) || data.open === "true", { focus: false });

  if (starters === null || !data.title) {
    client.config().then((config) => {
      if (!data.title && typeof config.title === "string" && config.title) {
        title.textContent = config.title;
        launcherLabel.textContent = config.title;
      }
      if (starters === null) {
        const list = Array.isArray(config.starter_questions) ? config.starter_questions : [];
        starters = list.map(String).filter(Boolean).slice(0, MAX_STARTERS);
        if (!state.messages.length) render();
      }
    });
  }
  return host;
}
