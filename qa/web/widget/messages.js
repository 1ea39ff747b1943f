// The conversation: one <article> per message, answers streamed in delta by delta with each `[n]`
// a citation chip, errors with Retry, and the introduction with starter questions. Every string
// from the server becomes text nodes.
import { ApiError } from "./api.js";
import { answerActions } from "./feedback.js";
import { answerNodes, h, icon, plainAnswer, replace } from "./render.js";

/** Well-formed citations only, every field coerced to its type. */
export function citationsFrom(raw) {
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

/** Saved messages after a reload: an answer that was still streaming became an interrupted one. */
export function restore(messages) {
  for (const message of messages) {
    if (message.role === "bot" && message.state === "streaming") {
      message.state = "error"; // the page was reloaded mid-answer
      message.error = { code: "interrupted", message: "This answer was interrupted. Try again.", retryAt: 0 };
    }
    if (!Array.isArray(message.citations)) message.citations = [];
  }
}

/**
 * The conversation rendered into `list` from `state.messages`. `openSource(citation, chip)` shows a
 * cited passage; `onBusy(busy)` hears when an answer starts and stops streaming.
 */
export function createConversation({ list, state, text, client, save, announce, openSource, onBusy, starters }) {
  const views = new Map(); // message object → its <article>
  let busy = null; // the AbortController of the answer being streamed
  let suggestions = starters;

  function setBusy(controller) {
    busy = controller;
    list.setAttribute("aria-busy", String(Boolean(controller)));
    onBusy(Boolean(controller));
  }

  function scrollToEnd(force = false) {
    const nearEnd = list.scrollHeight - list.scrollTop - list.clientHeight < 96;
    if (force || nearEnd) list.scrollTop = list.scrollHeight;
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
    const send = () =>
      client.chat({
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
    try {
      try {
        await send();
      } catch (error) {
        // A conversation the server does not have (its answer failed before it was stored, storage
        // was down, or this tab's session is gone): continue in a new one rather than failing
        // every follow-up with "not found".
        if (!(error instanceof ApiError && error.status === 404 && state.conversationId)) throw error;
        state.conversationId = null;
        Object.assign(bot, { text: "", citations: [] });
        await send();
      }
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

  /** Abandon the answer being streamed, if any (a new conversation starts). */
  function stop() {
    if (!busy) return;
    busy.abort();
    setBusy(null);
  }

  // ---- views ----------------------------------------------------------------------------------
  function render() {
    views.clear();
    list.replaceChildren(...(state.messages.length ? state.messages.map(view) : [intro()]));
  }

  function intro() {
    const items = (suggestions || []).map((question) =>
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
      message.state === "done" ? answerActions(message, { client, save }) : null,
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

  return {
    ask,
    stop,
    render,
    scrollToEnd,
    get busy() {
      return busy !== null;
    },
    /** Starter questions arrived (from the server's defaults): show them if nothing was asked yet. */
    setStarters(questions) {
      suggestions = questions;
      if (!state.messages.length) render();
    },
  };
}
