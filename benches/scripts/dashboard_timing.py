#!/usr/bin/env python3
"""Times the supervisor dashboard (`GET /`, SPEC R32) in headless Chromium with a large team:
time to first render, time for an event to show, the cost of the one-second tick, and an
event storm. Figures are printed, never asserted (benches/README.md "Dashboard").

It starts the given binary on a free loopback port with a fresh SQLite store and the system
clock (no token: local mode), sets up `--agents` agents in the queue of each of `--channels`
channels (messenger only, `max_chats` 5, offers that do not expire during the run), brings
half of the agents online, opens `--conversations` conversations spread over the channels
(those the online agents can take are offered, half of those accepted, the rest wait), then
drives Chromium over the DevTools protocol (like .ci/dashboard-check).

Usage: python3 benches/scripts/dashboard_timing.py target/release/openline
         [--agents 500] [--conversations 5000] [--channels 4] [--loads 3] [--events 20]
Needs `chromium` and `websocket-client`. Every request goes to 127.0.0.1 only.
"""
import argparse
import base64
import concurrent.futures
import importlib.machinery
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
# The browser and API helpers of the CI check, loaded from its file (it has no .py suffix).
_loader = importlib.machinery.SourceFileLoader(
    "dashboard_check", os.path.join(HERE, "..", "..", ".ci", "dashboard-check"))
_spec = importlib.util.spec_from_loader("dashboard_check", _loader)
check = importlib.util.module_from_spec(_spec)
_loader.exec_module(check)


def post_many(api, requests, threads=8):
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda r: api.call(*r), requests))


def setup(api, agents, conversations, channels):
    ids = [f"agent-{n:04}" for n in range(agents)]
    post_many(api, [("PUT", f"/v1/agents/{a}", {"name": f"Agent {a[6:]}", "groups": ["support"]}) for a in ids])
    names = [f"ch-{n}" for n in range(channels)]
    for channel in names:
        api.call("PUT", f"/v1/channels/{channel}", {
            "name": f"Channel {channel}", "check_availability": True, "sources": ["messenger"],
            "policy": "evenly", "queue": ids, "max_chats": 5, "offer_timeout_seconds": 86400})
    api.call("PUT", "/v1/channels/quiet", {"name": "Quiet", "check_availability": True,
                                           "sources": ["messenger"], "queue": ["nobody"]})
    online = ids[::2]
    api.call("POST", "/v1/signals", [{"agent": a, "source": "messenger", "event": "open"} for a in online])
    opened = post_many(api, [("POST", f"/v1/channels/{names[n % channels]}/conversations",
                              {"id": f"conv-{n:05}", "customer": f"cust-{n}"}) for n in range(conversations)])
    offered = [c for c in opened if c["state"] == "offered"]
    post_many(api, [("POST", f"/v1/conversations/{c['id']}/accept", {"agent": c["offered_to"][0]})
                    for c in offered[::2]])
    return ids, names, online


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def summary(values):
    return {"median": round(statistics.median(values), 1), "p95": round(percentile(values, 95), 1),
            "max": round(max(values), 1), "n": len(values)}


# Sends a request from the page and resolves with the ms until the selected element matches
# (checked after each DOM mutation, read at the next frame's start).
SHOW = """(async (method, path, body, probe) => {
  const seen = new Function('return (' + probe + ')();');
  const t0 = performance.now();
  const shown = new Promise(resolve => {
    const observer = new MutationObserver(() => {
      if (seen()) { observer.disconnect(); resolve(performance.now() - t0); }
    });
    observer.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
  });
  const r = await fetch(path, {method, headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)});
  if (!r.ok) throw new Error(path + ': ' + r.status);
  const acked = performance.now() - t0;
  const ms = await shown;
  await new Promise(r => requestAnimationFrame(() => setTimeout(r)));
  return {acked, shown: ms, painted: performance.now() - t0};
})"""

CELL = """() => { const row = document.querySelector('[data-agent="' + CSS.escape(%s) + '"]');
  const c = row && row.querySelector('[data-channel="' + CSS.escape(%s) + '"]');
  return c && c.dataset.available === %s; }"""

WAITING = """() => !!document.querySelector('[data-waiting="' + CSS.escape(%s) + '"]')"""


def show(browser, method, path, body, probe):
    expression = f"{SHOW}({json.dumps(method)}, {json.dumps(path)}, {json.dumps(body)}, {json.dumps(probe)})"
    result = browser.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
    if "exceptionDetails" in result:
        raise SystemExit(f"dashboard timing: {result['exceptionDetails']}")
    return result["result"]["value"]


RENDERING = ("ScriptDuration", "RecalcStyleDuration", "LayoutDuration")


def rendering(browser):
    """The page's cumulative script, style and layout time so far (CDP Performance), in ms."""
    metrics = {m["name"]: m["value"] for m in browser.call("Performance.getMetrics")["metrics"]}
    return {name: metrics.get(name, 0.0) * 1000 for name in RENDERING}


def per_event(before, after, n):
    return ", ".join(f"{name.replace('Duration', '').lower()} {(after[name] - before[name]) / n:.1f}"
                     for name in RENDERING) + " ms per event"


def first_render(browser, url):
    browser.call("Page.navigate", url="about:blank")
    check.wait_for("a blank page", lambda: browser.eval("location.href") == "about:blank")
    browser.call("Page.navigate", url=url)
    painted = check.wait_for("the first render", lambda: browser.eval("window.dashboardPainted"), timeout=120)
    loaded = browser.eval("window.dashboardLoaded")
    resources = browser.eval("""performance.getEntriesByType('resource').map(e =>
      ({name: e.name.replace(location.origin, ''), ms: e.responseEnd - e.startTime, bytes: e.encodedBodySize}))""")
    nav = browser.eval("(() => { const n = performance.getEntriesByType('navigation')[0]; return n.responseEnd; })()")
    return painted, loaded, nav, resources


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--conversations", type=int, default=5000)
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--loads", type=int, default=3)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--screenshot")
    parser.add_argument("--table-layout", help="override the agents table's CSS table-layout (A/B)")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="openline-dashboard-timing-")
    port = check.free_port()
    config = os.path.join(workdir, "openline.toml")
    with open(config, "w") as out:
        out.write(f'[server]\nlisten = "127.0.0.1:{port}"\n'
                  f'[store]\nurl = "sqlite://{workdir}/openline.db"\n'
                  '[plugins.messenger]\nheartbeat_timeout = "1d"\n')
    server = check.start_server(args.binary, config)
    browser = None
    try:
        api = check.Api(f"http://127.0.0.1:{port}")
        check.wait_for("the server", lambda: api.call("GET", "/readyz"))
        started = time.time()
        ids, names, online = setup(api, args.agents, args.conversations, args.channels)
        waiting = sum(len(api.call("GET", f"/v1/channels/{c}/queue")["conversations"]) for c in names)
        print(f"setup: {args.agents} agents × {args.channels} channels, {args.conversations} open conversations"
              f" ({waiting} waiting) in {time.time() - started:.1f} s")

        browser = check.Browser(workdir, size="1400,1000")
        url = f"http://127.0.0.1:{port}/"
        loads = []
        for _ in range(args.loads):
            painted, loaded, nav, resources = first_render(browser, url)
            loads.append((painted, loaded, nav, resources))
        painted = [p for p, _, _, _ in loads]
        built = [b for _, b, _, _ in loads]
        print(f"first render (navigation start → painted), {args.loads} loads: {summary(painted)} ms;"
              f" model + DOM built at {summary(built)} ms")
        for r in sorted(loads[-1][3], key=lambda r: -r["ms"])[:6]:
            print(f"  {r['name']}: {r['ms']:.0f} ms, {r['bytes'] / 1024:.0f} KiB")
        rows = browser.eval("document.querySelectorAll('[data-agent]').length")
        rows_waiting = browser.eval("document.querySelectorAll('[data-waiting]').length")
        cells = browser.eval("document.querySelectorAll('[data-agent] [data-channel]').length")
        nodes = browser.eval("document.getElementsByTagName('*').length")
        print(f"  page: {rows} agent rows, {cells} availability cells, {rows_waiting} waiting rows, {nodes} elements")

        browser.call("Performance.enable")
        if args.table_layout:
            browser.eval(f"document.querySelector('table').style.tableLayout = {json.dumps(args.table_layout)}")
        # An availability change: an offline agent comes online (messenger open), on every channel.
        offline = [a for a in ids if a not in set(online)]
        times = []
        cost = rendering(browser)
        for n in range(args.events):
            agent = offline[n]
            probe = CELL % (json.dumps(agent), json.dumps(names[-1]), json.dumps("true"))
            times.append(show(browser, "POST", "/v1/signals",
                              {"agent": agent, "source": "messenger", "event": "open"}, probe))
        print(f"availability change (signal sent → cell flipped): {summary([t['shown'] for t in times])} ms;"
              f" acknowledged {summary([t['acked'] for t in times])} ms; painted {summary([t['painted'] for t in times])} ms")
        print("  " + per_event(cost, rendering(browser), args.events))
        # A new conversation that waits (on `quiet`, whose queue names nobody who exists).
        times = []
        cost = rendering(browser)
        for n in range(args.events):
            conversation = f"new-{n}"
            times.append(show(browser, "POST", "/v1/channels/quiet/conversations", {"id": conversation, "customer": "c"},
                              WAITING % json.dumps(conversation)))
        print(f"new waiting conversation (POST → row shown): {summary([t['shown'] for t in times])} ms;"
              f" painted {summary([t['painted'] for t in times])} ms")
        print("  " + per_event(cost, rendering(browser), args.events))

        # The one-second tick over every waiting row (waits change every second).
        cost = rendering(browser)
        tick = browser.call("Runtime.evaluate", awaitPromise=True, returnByValue=True, expression="""(async () => {
          const out = [];
          for (let i = 0; i < 10; i++) {
            await new Promise(r => setTimeout(r, 1000));
            const t0 = performance.now();
            await tick();
            const js = performance.now() - t0;
            await new Promise(r => requestAnimationFrame(() => setTimeout(r)));
            out.push([js, performance.now() - t0]);
          }
          return out;
        })()""")["result"]["value"]
        print(f"tick (every second): script {summary([t[0] for t in tick])} ms,"
              f" with the frame {summary([t[1] for t in tick])} ms")
        print("  " + per_event(cost, rendering(browser), len(tick)).replace("event", "second"))

        # An event storm: half the online agents go offline in one batch (an availability event
        # per agent and channel, their offers withdrawn, accepted ones requeued).
        storm = online[: len(online) // 2]
        last = storm[-1]
        probe = CELL % (json.dumps(last), json.dumps(names[-1]), json.dumps("false"))
        result = show(browser, "POST", "/v1/signals",
                      [{"agent": a, "source": "messenger", "event": "close"} for a in storm], probe)
        print(f"storm: {len(storm)} agents offline in one batch ({len(storm) * args.channels} availability events"
              f" + withdrawals/requeues): acknowledged {result['acked']:.0f} ms, last cell flipped"
              f" {result['shown']:.0f} ms, painted {result['painted']:.0f} ms")
        if args.screenshot:
            browser.screenshot(args.screenshot)
        if browser.errors:
            print(f"script errors: {browser.errors}")
    finally:
        if browser:
            browser.close()
        server.terminate()
        server.wait()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
