// The conversation survives reloads within the tab (sessionStorage), and nothing longer.

const VERSION = 1;

function empty() {
  return { v: VERSION, conversationId: null, open: false, messages: [] };
}

function valid(state) {
  return (
    state &&
    state.v === VERSION &&
    Array.isArray(state.messages) &&
    state.messages.every((m) => m && (m.role === "user" || m.role === "bot") && typeof m.text === "string")
  );
}

export function createStore(base) {
  const key = `qa-widget:${base}`;
  return {
    load() {
      try {
        const state = JSON.parse(sessionStorage.getItem(key) || "null");
        return valid(state) ? state : empty();
      } catch {
        return empty(); // storage blocked (privacy settings) or corrupt: start afresh
      }
    },
    save(state) {
      try {
        sessionStorage.setItem(key, JSON.stringify({ ...state, v: VERSION }));
      } catch {
        // Full or blocked storage only costs persistence across reloads.
      }
    },
    empty,
  };
}

/** This tab's session token for `base` (issued by the server; see api.js). Survives reloads and
 * "New conversation", ends with the tab. */
export function createSession(base) {
  const key = `qa-widget-session:${base}`;
  let memory = null; // when storage is blocked, the session lasts as long as the page
  return {
    get() {
      try {
        return sessionStorage.getItem(key) || memory;
      } catch {
        return memory;
      }
    },
    set(token) {
      memory = String(token);
      try {
        sessionStorage.setItem(key, memory);
      } catch {
        // Blocked storage: kept in memory only.
      }
    },
  };
}
