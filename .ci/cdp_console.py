"""A small DevTools-protocol driver of headless Chromium for .ci/console-check: one browser,
pages (tabs) opened in it, JavaScript evaluation, real mouse and keyboard input, screenshots.
Needs `chromium` and the Python package `websocket-client`.
"""
import base64
import json
import os
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import websocket

TIMEOUT = 30.0  # seconds to wait for any one thing


class Failed(SystemExit):
    """A check failed: the message, exit status 1."""


class JsError(Exception):
    """The page's JavaScript threw (e.g. the element is not there yet)."""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, probe, timeout=TIMEOUT):
    """probe() until it returns something true; that value. Exceptions count as 'not yet'."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            value = probe()
            if value:
                return value
        except Exception as error:  # not there yet
            last = error
        time.sleep(0.05)
    raise Failed(f"console check: timed out after {timeout:g} s waiting for {what}"
                 + (f" (last error: {last!r})" if last else ""))


class Browser:
    """One headless Chromium with its own profile in `workdir`."""

    def __init__(self, workdir):
        self.port = free_port()
        self.process = subprocess.Popen(
            ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
             "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
             f"--user-data-dir={workdir}/profile", f"--remote-debugging-port={self.port}",
             "--window-size=1100,900", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**os.environ, "HOME": workdir})
        targets = wait_for("Chromium's DevTools endpoint", lambda: self.targets())
        first = next(t for t in targets if t["type"] == "page")
        self.first = Page(first["webSocketDebuggerUrl"], first["id"])

    def targets(self):
        return json.load(urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list"))

    def new_page(self, url="about:blank"):
        """A new tab (with a fresh sessionStorage; localStorage is the profile's)."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/json/new?" + urllib.parse.quote(url, safe=":/"), method="PUT")
        target = json.load(urllib.request.urlopen(request))
        return Page(target["webSocketDebuggerUrl"], target["id"])

    def close(self):
        self.process.kill()
        self.process.wait()


class Page:
    """One tab, over its own DevTools websocket."""

    def __init__(self, url, target):
        self.target = target
        self.ws = websocket.create_connection(url, timeout=TIMEOUT, suppress_origin=True)
        self.next_id = 0
        self.errors = []  # uncaught exceptions and console errors of the page
        self.call("Runtime.enable")
        self.call("Page.enable")

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise Failed(f"console check: {method}: {message['error']}")
                return message.get("result", {})
            self.note(message)

    def note(self, message):
        method = message.get("method")
        params = message.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.errors.append(details.get("exception", {}).get("description") or details.get("text"))
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            self.errors.append(" ".join(str(a.get("value", a.get("description"))) for a in params["args"]))

    def eval(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise JsError(f"`{expression}` threw "
                          + (details.get("exception", {}).get("description") or details.get("text")))
        return result.get("result", {}).get("value")

    def navigate(self, url):
        self.call("Page.navigate", url=url)

    def center(self, selector):
        """The viewport coordinates of the middle of the first element `selector` matches."""
        box = self.eval("(() => { const e = document.querySelector(%s); if (!e) return null;"
                        " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
                        " return [r.x + r.width / 2, r.y + r.height / 2]; })()" % json.dumps(selector))
        if not box:
            raise Failed(f"console check: nothing matches {selector}")
        return box

    def move_mouse(self, x, y):
        self.call("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)

    def click(self, selector):
        """A real click (pointer events, as a person's) in the middle of `selector`."""
        x, y = self.center(selector)
        self.move_mouse(x, y)
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def type_into(self, selector, text):
        self.eval("document.querySelector(%s).focus()" % json.dumps(selector))
        self.call("Input.insertText", text=text)

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        with open(path, "wb") as out:
            out.write(base64.b64decode(data))

    def close(self):
        """Closes the tab as a person would (the page gets `pagehide`)."""
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": "Page.close", "params": {}}))
        self.ws.settimeout(5)
        try:  # the answer, or the socket closing with the tab
            while json.loads(self.ws.recv()).get("id") != self.next_id:
                pass
        except Exception:
            pass
        try:
            self.ws.close()
        except Exception:
            pass
