"""Headless Chromium for tests: a page loaded and measured as a customer's browser shows it.

Speaks the DevTools protocol over a pipe (``--remote-debugging-pipe``: commands on fd 3,
answers on fd 4, each a JSON text ended by NUL), so only the standard library is needed and
nothing listens on a port.  Everything the page says (console messages, browser log entries
such as a Content-Security-Policy refusal, requests it makes) is kept for the test to check.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["Browser", "BrowserError", "Page", "chromium_missing", "find_chromium"]

#: Binaries tried in order: Debian's headless shell, Debian's full browser, Google's builds.
NAMES = ("chromium-headless-shell", "chromium", "chrome-headless-shell", "google-chrome", "chrome")
#: Longest wait for one answer: a guard against a hung browser, not a measured time.
WAIT = 120.0

_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-pipe",
)


def find_chromium() -> str | None:
    """The first Chromium on PATH (``MAILRECOVER_CHROMIUM`` names another), or None."""
    chosen = os.environ.get("MAILRECOVER_CHROMIUM")
    if chosen:
        return shutil.which(chosen)
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium_missing() -> str | None:
    """Why no browser test can run here, or None."""
    if find_chromium() is None:
        return "no Chromium is installed (Debian: chromium-headless-shell, or chromium)"
    return None


class BrowserError(RuntimeError):
    """Chromium did not start, ended, did not answer, or refused a command."""


def _on_fd_3_and_4(commands: int, answers: int) -> Callable[[], None]:
    """In the child: the pipe ends where Chromium looks for them (only they and stdio are
    inherited, Python's own descriptors being close-on-exec)."""

    def move() -> None:
        # above 9 first, so that putting one on 3 or 4 cannot overwrite the other
        high = fcntl.fcntl(commands, fcntl.F_DUPFD, 10), fcntl.fcntl(answers, fcntl.F_DUPFD, 10)
        os.dup2(high[0], 3)
        os.dup2(high[1], 4)

    return move


class Browser:
    """One headless Chromium, with its own empty profile, ended when the ``with`` block ends."""

    def __init__(self, binary: str | None = None) -> None:
        self.binary = binary or find_chromium()
        if self.binary is None:
            raise BrowserError(chromium_missing())
        self._profile = tempfile.TemporaryDirectory(prefix="mailrecover-chromium-")
        to_child, self._to_browser = os.pipe()
        self._from_browser, from_child = os.pipe()
        self._proc = subprocess.Popen(
            [self.binary, *_FLAGS, f"--user-data-dir={self._profile.name}", "about:blank"],
            preexec_fn=_on_fd_3_and_4(to_child, from_child),
            close_fds=False,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        os.close(to_child)
        os.close(from_child)
        self._buffer = b""
        self._next_id = 0
        self._target: str | None = None
        self.events: list[dict[str, Any]] = []

    def __enter__(self) -> Browser:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (BrowserError, OSError):
            pass
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._proc.stderr:
            self._proc.stderr.close()
        self._profile.cleanup()

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> Any:
        """Run one protocol command and return its result; events read meanwhile are kept."""
        self._next_id += 1
        ask: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            ask["sessionId"] = session
        try:
            os.write(self._to_browser, json.dumps(ask).encode() + b"\0")
        except BrokenPipeError as e:
            raise BrowserError(f"Chromium ended: {self._stderr()}") from e
        while True:
            message = self._read()
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                return message.get("result", {})

    def wait_for(self, method: str, session: str) -> dict[str, Any]:
        """The first event ``method`` of ``session`` (already kept, or still to come)."""
        seen = 0
        while True:
            for event in self.events[seen:]:
                if event.get("method") == method and event.get("sessionId") == session:
                    return event
            seen = len(self.events)
            self._read()

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._from_browser], [], [], WAIT)
            if not ready:
                raise BrowserError(f"Chromium did not answer within {WAIT:.0f} s")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise BrowserError(f"Chromium ended: {self._stderr()}")
            self._buffer += chunk
        text, _, self._buffer = self._buffer.partition(b"\0")
        message: dict[str, Any] = json.loads(text)
        if "method" in message:
            self.events.append(message)
        return message

    def _stderr(self) -> str:
        """How the ended browser ended: its exit status and the end of what it wrote."""
        code = self._proc.wait(timeout=30)
        said = self._proc.stderr.read().decode(errors="replace")[-2000:] if self._proc.stderr else ""
        return f"exit status {code}; {said.strip() or 'it wrote nothing'}"

    def open(self, url: str, width: int = 1280, height: int = 800) -> Page:
        """A new tab of ``width`` x ``height`` CSS pixels, ``url`` loaded and its fonts ready.

        One tab at a time: the tab opened before is closed."""
        if self._target is not None:
            self.send("Target.closeTarget", {"targetId": self._target})
        target = self._target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session)
        for domain in ("Page", "Runtime", "Log", "Network", "DOM", "CSS"):
            page.send(f"{domain}.enable")
        page.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        first = len(self.events)
        page.send("Page.navigate", {"url": url})
        while not any(
            e.get("method") == "Page.loadEventFired" and e.get("sessionId") == session
            for e in self.events[first:]
        ):
            self._read()
        page.evaluate("document.fonts.ready.then(() => true)")
        return page


class Page:
    """One loaded tab: evaluate expressions, take screenshots, print, read what it logged."""

    def __init__(self, browser: Browser, session: str) -> None:
        self.browser = browser
        self.session = session

    def send(self, method: str, params: dict[str, Any] | None = None) -> Any:
        return self.browser.send(method, params, self.session)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (awaited if it is a promise).

        The protocol runs it from outside: the page itself stays without any script."""
        done = self.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}
        )
        if "exceptionDetails" in done:
            raise BrowserError(f"{expression!r}: {done['exceptionDetails']}")
        return done["result"].get("value")

    def next_frame(self) -> None:
        """Wait until the page has drawn what the last change did."""
        self.evaluate(
            "new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => done(true))))"
        )

    def errors(self) -> list[str]:
        """Console errors and warnings, uncaught exceptions and browser log errors of this tab."""
        found = []
        for e in self.browser.events:
            if e.get("sessionId") != self.session:
                continue
            method, params = e["method"], e.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning", "assert"):
                found.append(f"console.{params['type']}: {params.get('args')}")
            elif method == "Runtime.exceptionThrown":
                found.append(f"exception: {params.get('exceptionDetails')}")
            elif method == "Log.entryAdded" and params["entry"].get("level") in ("error", "warning"):
                entry = params["entry"]
                found.append(
                    f"{entry['level']} ({entry.get('source')}): {entry.get('text')} {entry.get('url', '')}"
                )
        return found

    def requests(self) -> list[str]:
        """Every URL the tab asked for, the page itself included."""
        return [
            e["params"]["request"]["url"]
            for e in self.browser.events
            if e.get("sessionId") == self.session and e.get("method") == "Network.requestWillBeSent"
        ]

    def screenshot(self, path: Path | None = None, full: bool = False) -> bytes:
        """A PNG of the viewport (or the whole page), also written to ``path`` for a person to look at."""
        self.next_frame()
        png = base64.b64decode(
            self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": full})["data"]
        )
        if path is not None:
            path.write_bytes(png)
        return png

    def pdf(self, path: Path | None = None) -> bytes:
        """The page printed as the browser's print dialog would, with the page size its CSS asks for."""
        print_as = {"preferCSSPageSize": True, "printBackground": True, "displayHeaderFooter": False}
        data = self.send("Page.printToPDF", print_as)
        pdf = base64.b64decode(data["data"])
        if path is not None:
            path.write_bytes(pdf)
        return pdf

    def fonts_of_text(self, text: str, tag: str = "*") -> list[dict[str, Any]]:
        """The fonts that drew the first ``tag`` element containing ``text``, with glyph counts."""
        self.next_frame()  # the fonts are known once the text has been laid out and drawn
        self.send("DOM.getDocument", {"depth": 0})
        found = self.send("DOM.performSearch", {"query": f"//{tag}[contains(., '{text}')]"})
        if not found["resultCount"]:
            raise BrowserError(f"no {tag} element holds {text!r}")
        nodes = self.send(
            "DOM.getSearchResults", {"searchId": found["searchId"], "fromIndex": 0, "toIndex": 1}
        )["nodeIds"]
        fonts: list[dict[str, Any]] = self.send("CSS.getPlatformFontsForNode", {"nodeId": nodes[0]})["fonts"]
        return fonts
