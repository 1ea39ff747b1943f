// The HTTP client: streaming chat over fetch (EventSource cannot POST), documents, feedback.
import { createParser } from "./eventsource-parser.js";

/** A failure the reader can act on: `code` from the server or "network", and a message to show. */
export class ApiError extends Error {
  constructor(code, message, { status = 0, retryAfter = 0 } = {}) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.status = status;
    this.retryAfter = retryAfter; // seconds; 0 when the server gave none
  }
}

const OFFLINE = "Can't reach the server. Check your connection and try again.";
const REFUSED_ORIGIN =
  "This site is not allowed to use the chat server: its operator must add this page's origin to the widget key's origins.";

/** Seconds to wait from a Retry-After header (delta-seconds or an HTTP date). */
export function parseRetryAfter(value) {
  if (!value) return 0;
  if (/^\s*\d+\s*$/.test(value)) return Number(value);
  const when = Date.parse(value);
  return Number.isNaN(when) ? 0 : Math.max(0, Math.ceil((when - Date.now()) / 1000));
}

async function errorFrom(response) {
  let code = `http_${response.status}`;
  let message = "";
  try {
    const body = await response.json();
    if (body && body.error) {
      code = String(body.error.code || code);
      message = String(body.error.message || "");
    }
  } catch {
    // Not JSON (a proxy's error page, say): fall back to a message chosen by status.
  }
  const retryAfter = parseRetryAfter(response.headers.get("Retry-After"));
  if (!message) {
    if (response.status === 429) message = "Too many questions right now.";
    else if (response.status >= 500) message = "The server had a problem. Try again in a moment.";
    else message = "The server refused the request.";
  }
  return new ApiError(code, message, { status: response.status, retryAfter });
}

/** The header carrying this tab's session: the server issues it, the widget sends it back. */
export const SESSION_HEADER = "X-QA-Session";

/**
 * `session` ({ get(), set(token) }) keeps the token the server issues with a widget key: it makes
 * this tab's conversations and ratings this tab's own (another visitor with the same public key
 * gets 404 for them). A header, not a cookie: the widget runs on other sites' pages, where
 * third-party cookies are blocked and would invite cross-site request forgery.
 */
export function createClient(base, key, session = { get: () => null, set: () => {} }) {
  const headers = (json) => {
    const result = { Accept: "application/json" };
    if (json) result["Content-Type"] = "application/json";
    if (key) result.Authorization = `Bearer ${key}`;
    const token = session.get();
    if (token) result[SESSION_HEADER] = token;
    return result;
  };
  const documents = new Map();

  /**
   * Why a fetch failed before any response. A refused CORS preflight looks exactly like a dead
   * server to the page, so ask for `widget.json` (served to every origin, no preflight): if the
   * server answers that, it is up and it is this page's origin that it refused.
   */
  async function failure() {
    try {
      const probe = await fetch(new URL("widget.json", base).href, { credentials: "omit", cache: "no-store" });
      if (probe.ok) return new ApiError("origin_not_allowed", REFUSED_ORIGIN);
    } catch {
      // unreachable: say so below
    }
    return new ApiError("network", OFFLINE);
  }

  async function request(path, init) {
    let response;
    try {
      response = await fetch(new URL(path, base).href, { ...init, credentials: "omit" });
    } catch (error) {
      if (error && error.name === "AbortError") throw error;
      throw await failure();
    }
    const issued = response.headers.get(SESSION_HEADER);
    if (issued) session.set(issued);
    if (!response.ok) throw await errorFrom(response);
    return response;
  }

  async function json(path, init) {
    const response = await request(path, init);
    try {
      return await response.json();
    } catch {
      throw new ApiError("bad_response", "The server sent an unreadable answer.");
    }
  }

  return {
    /** Ask a question; `onEvent(name, data)` sees meta, delta, citations, done (and error). */
    async chat({ message, conversationId, signal, onEvent }) {
      const body = { message, stream: true };
      if (conversationId) body.conversation_id = conversationId;
      const response = await request("v1/chat", {
        method: "POST",
        headers: { ...headers(true), Accept: "text/event-stream" },
        body: JSON.stringify(body),
        signal,
      });
      let finished = false;
      let failure = null;
      const parser = createParser({
        onEvent(event) {
          let data;
          try {
            data = JSON.parse(event.data);
          } catch {
            return; // not one of ours (keep-alive pings are comments and never get here)
          }
          if (event.event === "error") {
            failure = new ApiError(String(data.code || "error"), String(data.message || "Something went wrong."));
            return;
          }
          if (event.event === "done") finished = true;
          onEvent(event.event || "message", data);
        },
      });
      if (!(response.headers.get("Content-Type") || "").includes("text/event-stream")) {
        // A server or proxy that ignored `stream`: take the whole answer at once.
        const answer = await response.json();
        onEvent("done", answer);
        return;
      }
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          parser.feed(value);
          if (failure) throw failure;
        }
      } catch (error) {
        if (error instanceof ApiError || (error && error.name === "AbortError")) throw error;
        throw new ApiError("network", OFFLINE);
      }
      if (failure) throw failure;
      if (!finished) throw new ApiError("interrupted", "The answer was cut off. Try again.");
    },

    /** The document (cached): `{doc_id, title, text, ...}`. */
    document(docId) {
      if (!documents.has(docId)) {
        const pending = json(`v1/documents/${encodeURIComponent(docId)}`, { headers: headers(false) });
        pending.catch(() => documents.delete(docId)); // a failure is not cached
        documents.set(docId, pending);
      }
      return documents.get(docId);
    },

    /** Rate an answer; resolves when the server accepted it (any 2xx, with or without a body). */
    async feedback(messageId, rating, comment) {
      const body = { message_id: messageId, rating };
      if (comment) body.comment = comment;
      await request("v1/feedback", { method: "POST", headers: headers(true), body: JSON.stringify(body) });
    },

    /** Server-side defaults (title, starter questions); never fails, since they are optional. */
    async config() {
      try {
        return await json("widget.json", {});
      } catch {
        return {};
      }
    },
  };
}
