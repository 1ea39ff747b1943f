// The chat widget: a launcher and panel (or a full page) inside a Shadow DOM, so the host page's
// CSS cannot reach in and ours cannot leak out. Configured by the script tag's data-* attributes.
// This module builds the frame and wires the parts together: the conversation (messages.js), the
// source sheet (sources.js) and, under each answer, copy and feedback (feedback.js).
import { createClient } from "./api.js";
import { createConversation, restore } from "./messages.js";
import { h, icon } from "./render.js";
import { createSourceSheet } from "./sources.js";
import { createSession, createStore } from "./store.js";

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

export function mount(script, base) {
  const data = script.dataset;
  const mode = data.mode === "page" ? "page" : "launcher";
  const key = data.key || "";
  const client = createClient(base, key, createSession(base));
  const store = createStore(base);
  const state = store.load();
  const text = {
    title: data.title || "Ask the article",
    notFound: data.notFoundLabel || "Not in the article",
    greeting: data.greeting || "Ask a question about the article. Every answer links to the passage it comes from.",
    placeholder: data.placeholder || "Ask a question…",
  };
  const starters = parseStarters(data.starters);
  const save = () => store.save(state);

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

  // ---- the parts ------------------------------------------------------------------------------
  const live = h("div", { class: "sr-only", role: "status", "aria-live": "polite", "aria-atomic": "true" });
  const announce = (message) => {
    live.textContent = message;
  };
  const list = h("section", { class: "messages", "aria-label": "Conversation", tabindex: "-1" });
  const sheet = createSourceSheet({ client, base, key, list });
  const sendButton = h("button", { type: "submit", class: "send", "aria-label": "Send", title: "Send" }, icon("send"));
  const conversation = createConversation({
    list,
    state,
    text,
    client,
    save,
    announce,
    starters,
    openSource: sheet.open,
    onBusy: (busy) => {
      sendButton.disabled = busy;
    },
  });

  // ---- static structure -----------------------------------------------------------------------
  // The full page has no other heading: there the title is the page's h1.
  const title = h(mode === "page" ? "h1" : "h2", { id: "qa-title", class: "title" }, text.title);
  const input = h("textarea", {
    class: "input",
    rows: 1,
    maxlength: 2000, // the server's default; replaced by its configured limit below
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
    sheet.element,
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
    if (sheet.isOpen) {
      event.preventDefault();
      sheet.close(true);
    } else if (mode === "launcher" && !panel.hidden) {
      event.preventDefault();
      setOpen(false);
    }
  });

  // ---- behaviour ------------------------------------------------------------------------------
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
    if (!open) sheet.close(false);
    if (open) conversation.scrollToEnd(true);
    if (focus) (open ? input : launcher).focus();
  }

  function submit() {
    const question = input.value.trim();
    if (!question || conversation.busy) return;
    input.value = "";
    autosize();
    conversation.ask(question);
  }

  function newConversation() {
    conversation.stop();
    sheet.close(false);
    state.conversationId = null;
    state.messages = [];
    save();
    conversation.render();
    announce("New conversation started.");
    input.focus();
  }

  // ---- start ----------------------------------------------------------------------------------
  restore(state.messages);
  conversation.render();
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
      if (Number.isInteger(config.max_message_chars) && config.max_message_chars > 0) {
        input.maxLength = config.max_message_chars;
      }
      if (!data.title && typeof config.title === "string" && config.title) {
        title.textContent = config.title;
        launcherLabel.textContent = config.title;
      }
      if (starters === null) {
        const questions = Array.isArray(config.starter_questions) ? config.starter_questions : [];
        conversation.setStarters(questions.map(String).filter(Boolean).slice(0, MAX_STARTERS));
      }
    });
  }
  return host;
}
