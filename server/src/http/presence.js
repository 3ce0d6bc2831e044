/* openline presence — reports an agent's `browser` presence to an openline server
 * (docs/pages.md). Served at /presence.js; the agent console uses it too.
 *
 *   <script src="https://openline.example.com/presence.js" data-token="…"></script>
 *     starts at once; optional data-agent="alice" (default: the token's agent, from
 *     GET /v1/whoami) and data-server="https://…" (default: where the script came from).
 *   OpenlinePresence.start({token, agent, server, onSignal, onError}) → a session;
 *   OpenlinePresence.stop() ends it (sends `close` when this is the agent's last tab).
 *
 * What it sends, POST /v1/signals {"agent", "source": "browser", "event"}:
 *   `activity` on user input (pointer, keys, scroll, focus), at most one per 30 s for all
 *   of the agent's tabs together, and at once on start and when the page shows again;
 *   `close` on `pagehide` of the agent's last tab, with fetch(…, {keepalive: true}) so that
 *   it leaves with the page and carries the token (a beacon cannot send a header).
 * Tabs find each other through localStorage (one key per tab, refreshed while it lives); a
 * reload or a navigation to another page of the same site (where the browser tells, with the
 * Navigation API) sends no `close`: the next page goes on reporting.
 */
(() => {
  "use strict";
  const INTERVAL = 30000; // ms: at most one `activity` per interval
  const TAB_BEAT = 20000; // ms: how often a tab says it is still open
  const TAB_STALE = 180000; // ms: a tab not heard of for this long is gone (it crashed)
  const RETRY = 5000; // ms: the earliest retry after a failed `activity`
  const INPUT = ["pointermove", "mousemove", "pointerdown", "keydown", "wheel", "scroll", "touchstart", "focus"];

  const script = document.currentScript;
  // The default server: the origin this script was loaded from (so a page of another site
  // that includes it talks to the openline server it came from).
  const scriptOrigin = script && script.src ? new URL(script.src, location.href).origin : location.origin;
  const tabId = Math.random().toString(36).slice(2) + Date.now().toString(36);

  let session = null; // the running session, if any
  let navigatingAt = 0; // when a cross-document navigation within this site began

  // localStorage may be missing or refuse (privacy modes, sandboxed frames): every tab then
  // counts as the last one and throttles on its own.
  const store = {
    get(key) { try { return localStorage.getItem(key); } catch (e) { return null; } },
    set(key, value) { try { localStorage.setItem(key, value); } catch (e) { /* alone */ } },
    remove(key) { try { localStorage.removeItem(key); } catch (e) { /* alone */ } },
    keys(prefix) {
      try { return Object.keys(localStorage).filter(k => k.startsWith(prefix)); } catch (e) { return []; }
    },
  };

  class PresenceError extends Error {
    constructor(message, status, code) {
      super(message);
      this.name = "PresenceError";
      this.status = status; // HTTP status; 0 when the server could not be reached
      this.code = code; // the API's error code (`unauthorized`, `forbidden`, …) or null
    }
  }

  async function failure(response, what) {
    let code = null, message = `${what}: HTTP ${response.status}`;
    try {
      const body = await response.json();
      if (body && body.error) { code = body.error.code; message = `${what}: ${body.error.message}`; }
    } catch (e) { /* not the API's JSON error */ }
    return new PresenceError(message, response.status, code);
  }

  class Session {
    constructor(options) {
      this.token = options.token || null;
      this.server = String(options.server || scriptOrigin).replace(/\/+$/, "");
      this.onSignal = typeof options.onSignal === "function" ? options.onSignal : () => {};
      this.onError = typeof options.onError === "function" ? options.onError
        : e => console.warn("openline presence:", e.message);
      this.agent = options.agent || null;
      this.stopped = false;
      this.timer = null;
      this.onInput = () => this.activity();
      this.onVisible = () => { if (document.visibilityState === "visible") this.activity(); };
      this.ready = this.begin();
    }

    headers() {
      const headers = {"Content-Type": "application/json"};
      if (this.token) headers.Authorization = "Bearer " + this.token;
      return headers;
    }

    async begin() {
      if (!this.agent) {
        let response;
        try {
          response = await fetch(this.server + "/v1/whoami", {headers: this.headers(), credentials: "omit"});
        } catch (e) {
          throw this.fail(new PresenceError(`cannot reach ${this.server}: ${e.message}`, 0, null), true);
        }
        if (!response.ok) throw this.fail(await failure(response, "who am I"), true);
        this.agent = (await response.json()).agent;
        if (!this.agent) {
          throw this.fail(new PresenceError("this credential is not bound to an agent: pass `agent`", 0, null), true);
        }
      }
      if (this.stopped) return this.agent;
      this.prefix = `openline-presence|${this.server}|${this.agent}|`;
      this.beat();
      this.timer = setInterval(() => this.beat(), TAB_BEAT);
      for (const type of INPUT) addEventListener(type, this.onInput, {capture: true, passive: true});
      document.addEventListener("visibilitychange", this.onVisible);
      if (document.visibilityState !== "hidden") this.activity();
      return this.agent;
    }

    fail(error, fatal) {
      if (fatal) this.end(false);
      this.onError(error);
      return error;
    }

    // This tab is open: its key says so, and keys of tabs gone for long are swept.
    beat() {
      const now = Date.now();
      this.store("tab|" + tabId, String(now));
      for (const key of store.keys(this.prefix + "tab|")) {
        if (now - Number(store.get(key)) > TAB_STALE) store.remove(key);
      }
    }

    store(key, value) { store.set(this.prefix + key, value); }

    otherTabs() {
      const now = Date.now();
      return store.keys(this.prefix + "tab|").filter(key =>
        key !== this.prefix + "tab|" + tabId && now - Number(store.get(key)) <= TAB_STALE).length;
    }

    // An `activity`, unless one of the agent's tabs sent one less than INTERVAL ago.
    activity() {
      if (this.stopped || !this.prefix) return;
      const now = Date.now();
      const last = Number(store.get(this.prefix + "last")) || 0;
      if (now - last < INTERVAL && now >= last) return;
      this.store("last", String(now));
      this.send("activity", false).catch(error => {
        // Unauthorized or forbidden stays so: stop. Anything else: retry on later input.
        const fatal = error.status === 401 || error.status === 403;
        if (!fatal) this.store("last", String(Date.now() - INTERVAL + RETRY));
        this.fail(error, fatal);
      });
    }

    async send(event, keepalive) {
      let response;
      try {
        response = await fetch(this.server + "/v1/signals", {
          method: "POST", keepalive, credentials: "omit", headers: this.headers(),
          body: JSON.stringify({agent: this.agent, source: "browser", event}),
        });
      } catch (e) {
        throw new PresenceError(`cannot reach ${this.server}: ${e.message}`, 0, null);
      }
      if (!response.ok) throw await failure(response, `browser ${event}`);
      this.onSignal(event, new Date());
    }

    // The page goes: `close` if no other tab of the agent is open (and this is no reload
    // nor a navigation to another page of this site).
    leave() {
      if (this.stopped || !this.prefix) return;
      store.remove(this.prefix + "tab|" + tabId);
      const staying = Date.now() - navigatingAt < 10000;
      if (this.otherTabs() === 0 && !staying) this.close();
    }

    close() {
      store.remove(this.prefix + "last");
      this.send("close", true).catch(error => this.fail(error, false));
    }

    // Back from the back/forward cache: this tab is open again.
    resume() {
      if (this.stopped || !this.prefix) return;
      this.beat();
      this.activity();
    }

    end(close) {
      if (this.stopped) return;
      this.stopped = true;
      clearInterval(this.timer);
      for (const type of INPUT) removeEventListener(type, this.onInput, {capture: true});
      document.removeEventListener("visibilitychange", this.onVisible);
      if (!this.prefix) return;
      store.remove(this.prefix + "tab|" + tabId);
      if (close && this.otherTabs() === 0) this.close();
    }
  }

  addEventListener("pagehide", () => { if (session) session.leave(); });
  addEventListener("pageshow", event => { if (event.persisted && session) session.resume(); });
  if (window.navigation) {
    navigation.addEventListener("navigate", event => {
      const to = event.destination;
      if (!to.sameDocument && new URL(to.url, location.href).origin === location.origin) navigatingAt = Date.now();
    });
    navigation.addEventListener("navigateerror", () => { navigatingAt = 0; });
  }

  const api = {
    /** Starts reporting for `agent` (default: the token's); stops a session already running.
     *  Returns the session; `session.ready` resolves to the agent id (or rejects). */
    start(options = {}) {
      if (session) session.end(false);
      session = new Session(options);
      session.ready.catch(() => {}); // reported through onError
      return session;
    },
    /** Stops reporting; sends `close` when this is the agent's last open tab, unless
     *  `{close: false}`. */
    stop({close = true} = {}) {
      if (session) session.end(close);
      session = null;
    },
    PresenceError,
  };
  window.OpenlinePresence = api;

  if (script && (script.hasAttribute("data-token") || script.hasAttribute("data-agent"))) {
    api.start({
      token: script.dataset.token || null,
      agent: script.dataset.agent || null,
      server: script.dataset.server || null,
    });
  }
})();
