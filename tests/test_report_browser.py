"""The HTML report in a real headless Chromium: cells present, filters and search work, drill-down.

Chromium is driven over the DevTools protocol on a pipe (--remote-debugging-pipe: NUL-terminated
JSON on fds 3/4), so the only dependency is the browser itself: no driver, no websocket library.
Clicks and typing are real input events at the elements' on-screen positions.

Skipped only when no Chromium is installed; with MACMATRIX_REQUIRE_BROWSER=1 (CI) that fails
instead. MACMATRIX_SCREENSHOT=PATH keeps the screenshot the test takes.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import struct
import subprocess
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_report import CASES, crafted_docs

from macmatrix.views import report

FLAGS = [
    "--headless",
    "--no-sandbox",  # we run as root in CI containers
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--remote-debugging-pipe",
]
NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
WIDTH, HEIGHT = 1366, 768  # a common laptop screen
TIMEOUT_S = 30.0


def find_chromium() -> str | None:
    if os.environ.get("MACMATRIX_CHROME"):
        return os.environ["MACMATRIX_CHROME"]
    return next((p for p in map(shutil.which, NAMES) if p), None)


class Chromium:
    """A headless Chromium and one page, spoken to over the DevTools pipe."""

    def __init__(self, binary: str, profile: Path, log: Path):
        to_chrome_r, self._to_chrome = map(_above_4, os.pipe())
        self._from_chrome, from_chrome_w = map(_above_4, os.pipe())
        # bash moves our pipe ends onto fds 3 and 4, where Chromium expects them (dash cannot:
        # it only redirects single-digit fds).
        script = f'exec "$0" "$@" 3<&{to_chrome_r} 4>&{from_chrome_w}'
        script += f" {to_chrome_r}<&- {from_chrome_w}>&-"
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            ["bash", "-c", script, binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            pass_fds=(to_chrome_r, from_chrome_w),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buf = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        attach = {"targetId": target, "flatten": True}
        self.session = self.call("Target.attachToTarget", attach)["sessionId"]
        self.page("Page.enable")
        self.page("Runtime.enable")
        metrics = {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False}
        self.page("Emulation.setDeviceMetricsOverride", metrics)

    # -- protocol
    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._from_chrome], [], [], max(left, 0))
            if not ready:
                raise TimeoutError(f"no DevTools message within {TIMEOUT_S}s")
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk:
                raise RuntimeError(f"chromium closed the DevTools pipe (log: {self._log.name})")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)  # type: ignore[no-any-return]

    def call(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})  # type: ignore[no-any-return]
            self.events.append(reply)

    def page(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.call(method, params, self.session)

    def wait_event(self, name: str) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            for i, event in enumerate(self.events):
                if event.get("method") == name:
                    return self.events.pop(i)
            self.events.append(self._read(deadline))

    # -- page helpers
    def open(self, url: str) -> None:
        """Load `url` afresh (a hash-only change would not reload the page, so go via blank)."""
        for target in ("about:blank", url):
            self.events.clear()
            self.page("Page.navigate", {"url": target})
            self.wait_event("Page.loadEventFired")

    def js(self, expression: str) -> Any:
        result = self.page("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise AssertionError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def click(self, selector: str) -> None:
        """A real mouse click at the centre of the element (scrolled into view first)."""
        box = self.js(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " if (!e) return null; e.scrollIntoView({block: 'center', inline: 'center'});"
            " const r = e.getBoundingClientRect();"
            " return [r.left + r.width / 2, r.top + r.height / 2]; })()"
        )
        assert box is not None, f"nothing matches {selector}"
        x, y = box
        for kind in ("mousePressed", "mouseReleased"):
            self.page(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1},
            )

    def type_into(self, selector: str, text: str) -> None:
        self.click(selector)
        self.js(f"document.querySelector({json.dumps(selector)}).select()")
        self.page("Input.insertText", {"text": text})

    def screenshot(self) -> bytes:
        return base64.b64decode(self.page("Page.captureScreenshot", {"format": "png"})["data"])

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.call("Browser.close")  # a clean exit; the wait below backs it up
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        os.close(self._to_chrome)
        os.close(self._from_chrome)
        self._log.close()


def _above_4(fd: int) -> int:
    """Move a pipe end above fd 4, so that moving the other ends onto 3/4 cannot clobber it."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    binary = find_chromium()
    if binary is None:
        why = "no Chromium found (apt-get install chromium, or set MACMATRIX_CHROME=PATH)"
        if os.environ.get("MACMATRIX_REQUIRE_BROWSER") == "1":
            pytest.fail(f"MACMATRIX_REQUIRE_BROWSER=1 but {why}")
        pytest.skip(why)
    tmp = tmp_path_factory.mktemp("chromium")
    chrome = Chromium(binary, tmp / "profile", tmp / "chromium.log")
    try:
        yield chrome
    finally:
        chrome.close()


@pytest.fixture(scope="module")
def page_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    tmp = tmp_path_factory.mktemp("report")
    path = tmp / "report.html"
    path.write_text(report.render_html(crafted_docs(tmp)), encoding="utf-8")
    return path.as_uri()


def visible_ids(b: Chromium) -> list[str]:
    return b.js(  # type: ignore[no-any-return]
        "Array.from(document.querySelectorAll('#grid tbody tr'))"
        ".filter(tr => !tr.hidden && tr.offsetParent !== null).map(tr => tr.dataset.id)"
    )


ALL = [c.id for c in CASES.values()]


def test_every_cell_is_rendered(browser: Chromium, page_url: str) -> None:
    browser.open(page_url)
    assert browser.js("document.querySelectorAll('#grid td.cell').length") == len(CASES) * 3
    assert sorted(visible_ids(browser)) == sorted(ALL)
    assert browser.js("document.getElementById('count').textContent") == "7 of 7 cases shown"
    heads = browser.js("Array.from(document.querySelectorAll('#grid thead th')).length")
    assert heads == 4  # case column + three stacks
    # the symbol is there as text, not only as a background colour
    words = browser.js(
        "Array.from(document.querySelectorAll('#grid td.cell .sym')).map(s => s.textContent)"
    )
    assert set(words) == {"✓", "✗", "⚠", "–"}


def test_outcome_filter_hides_rows_without_a_matching_cell(
    browser: Chromium, page_url: str
) -> None:
    browser.open(page_url)
    browser.click("input[name=outcome][value=works]")  # untick "works"
    assert browser.js("document.querySelector('input[value=works]').checked") is False
    # the "works" and "flaky" rows hold only works (or not-run) cells in every stack
    hidden = {CASES["works"].id, CASES["flaky"].id}
    assert sorted(visible_ids(browser)) == sorted(set(ALL) - hidden)
    dimmed = browser.js(
        "Array.from(document.querySelectorAll('#grid td.cell.dim')).every("
        "td => td.dataset.outcome === 'works' || td.dataset.outcome === 'none')"
    )
    assert dimmed is True
    browser.click("#unexpected")  # only cells that differ from their expectation
    assert visible_ids(browser) == [CASES["regressed"].id]
    assert "unexpected=1" in browser.js("location.hash")


def test_search_by_case_id(browser: Chromium, page_url: str) -> None:
    browser.open(page_url)
    browser.type_into("#search", "host-local")
    assert visible_ids(browser) == [i for i in ALL if "host-local" in i]
    browser.type_into("#search", "req-networks cni-0.4.0")  # every word must appear
    assert visible_ids(browser) == [CASES["infra"].id]
    browser.type_into("#search", "no-such-case")
    assert visible_ids(browser) == []
    assert browser.js("document.getElementById('count').textContent") == "0 of 7 cases shown"


def test_filter_state_from_the_url_hash(browser: Chromium, page_url: str) -> None:
    browser.open(page_url + "#outcome=infra-error,unsupported")
    rows = {CASES["infra"].id, CASES["unsupported"].id}
    assert sorted(visible_ids(browser)) == sorted(rows)


def test_cell_drill_down_shows_each_check(browser: Chromium, page_url: str) -> None:
    browser.open(page_url)
    row = ALL.index(CASES["regressed"].id)
    browser.click(f'td[data-key="0:{row}"]')
    detail = browser.js("document.getElementById('detail').innerText")
    assert CASES["regressed"].id in detail
    assert "NOT as expected" in detail
    checks = browser.js(
        "Array.from(document.querySelectorAll('#detail table.checks tr')).slice(1)"
        ".map(tr => [tr.dataset.check, tr.cells[1].textContent])"
    )
    assert dict(checks) == {
        "sandbox_created": "✓ ok",
        "secondary_mac_honoured": "✗ fail",
        "status_reports_mac": "✓ ok",
        "status_matches_kernel": "✓ ok",
    }
    png = browser.screenshot()
    keep = os.environ.get("MACMATRIX_SCREENSHOT")
    if keep:
        Path(keep).write_bytes(png)
    width, height, distinct = _png_facts(png)
    assert (width, height) == (WIDTH, HEIGHT)
    assert distinct > 20, "the screenshot looks blank"


def _png_facts(png: bytes) -> tuple[int, int, int]:
    """Width, height and the number of distinct byte values in the pixel data (blank ~ few)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, size = 8, b"", (0, 0)
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        body = png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return size[0], size[1], len(set(zlib.decompress(idat)))


def test_truth_table_and_nearest_neighbour_in_the_page(
    browser: Chromium, page_url: str, tmp_path: Path
) -> None:
    """Issue 11: one pivot per stack beside the grid, changed cells marked, and the nearest
    working neighbour beside a broken cell and in its drill-down. Screenshot kept in tmp_path."""
    browser.open(page_url)
    tables = browser.js(
        "Array.from(document.querySelectorAll('#pivots table.pivot')).map(t => t.dataset.stack)"
    )
    assert tables == ["kube-ovn-v1.14", "kube-ovn-v1.13", "kube-ovn-v1.14 #2"]
    first = browser.js(
        "Array.from(document.querySelectorAll('#pivots table.pivot')[0].querySelectorAll("
        "'tbody tr')).map(tr => Array.from(tr.cells).map(c => c.innerText.trim()))"
    )
    assert first == [
        ["single, macvlan capabilities.mac on", "✓ works", "✗ broken"],
        ["conflist, macvlan capabilities.mac on, tuning capmac", "✗ broken", "· not run"],
    ]
    assert browser.js("document.querySelectorAll('#pivots td.pv.changed').length") == 2
    row = ALL.index(CASES["broken"].id)
    near = browser.js(f"document.querySelector('td[data-key=\"0:{row}\"] .near').innerText")
    assert near == "works with request=networks"
    browser.click(f'td[data-key="0:{row}"]')
    assert "Nearest working (one axis away, same stack): works with request=networks" in (
        browser.js("document.getElementById('detail').innerText")
    )
    browser.js("document.getElementById('pivots').scrollIntoView()")
    png = browser.screenshot()
    (tmp_path / "truth-table.png").write_bytes(png)
    keep = os.environ.get("MACMATRIX_SCREENSHOT")
    if keep:
        Path(keep).with_name("truth-table.png").write_bytes(png)
    width, height, distinct = _png_facts(png)
    assert (width, height) == (WIDTH, HEIGHT) and distinct > 20, "the screenshot looks blank"
