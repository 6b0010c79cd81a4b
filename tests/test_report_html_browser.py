"""The HTML report as the customer sees it: rendered by headless Chromium, not only parsed.

Three pages: the README's example recovery (``examples/``), the contaminated backup (Japanese
subjects, an 11-day hole, quarantined mail) and a mailbox of 400 messages (long tables).
Screenshots and PDFs are left in each test's ``tmp_path`` for a person to look at.
Skipped where no Chromium is installed; in CI (``CI`` set) a missing browser is a failure.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailrecover.cli import main

from .conftest import REPO
from .support.builders import ACCOUNT, build_contaminated
from .support.chromium import Browser, BrowserError, Page, chromium_missing
from .support.mailgen import message

WIDTH, HEIGHT = 1280, 800  # the fold: a laptop's browser window
#: A4 in PostScript points (210 x 297 mm); Chromium rounds to whole device pixels.
A4 = (595.28, 841.89)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    why = chromium_missing()
    if why is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{why}; CI must run the browser tests (see .ci/apt-packages.txt)")
        pytest.skip(why)
    started: Browser | None = None
    try:
        started = Browser()
        started.send("Browser.getVersion")
    except (BrowserError, OSError) as e:
        if started is not None:
            started.close()
        if os.environ.get("CI"):
            raise
        pytest.skip(f"Chromium does not start here: {e}")
    with started:
        yield started


def _report(ws: Path, out: Path) -> Path:
    assert main(["--workspace", str(ws), "report", "--html", str(out)]) in (0, 3)
    return out


@pytest.fixture(scope="module")
def example_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README's first set-up command, run on ``examples/``, then ``report --html``."""
    tmp = tmp_path_factory.mktemp("example")
    taro = REPO / "examples" / "taro"
    places = [
        taro / "old-pc" / "Thunderbird" / "Local Folders",
        taro / "backup" / "Maildir",
        taro / "Desktop" / "saved-mail",
        taro / "outlook-export",
    ]
    ws = tmp / "ws"
    assert main(["--workspace", str(ws), "gather", "--account", "taro@example.co.jp", *map(str, places)]) == 0
    target = f"maildir:{tmp / 'restored' / 'Maildir'}"
    assert main(["--workspace", str(ws), "restore", "--account", "taro@example.co.jp", "--to", target]) == 0
    return _report(ws, tmp / "example.html")


@pytest.fixture(scope="module")
def japanese_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Japanese and hostile subjects, quarantined mail, no mail from 2012-06-09 to 2012-06-19."""
    tmp = tmp_path_factory.mktemp("japanese")
    sources = build_contaminated(tmp / "sources")
    ws = tmp / "ws"
    assert main(["--workspace", str(ws), "gather", "--account", ACCOUNT, str(sources.root)]) == 0
    return _report(ws, tmp / "japanese.html")


@pytest.fixture(scope="module")
def four_accounts_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The contaminated backup gathered for four accounts: the summary table has four rows."""
    tmp = tmp_path_factory.mktemp("four")
    sources = build_contaminated(tmp / "sources")
    ws = tmp / "ws"
    for name in ("taro", "jiro", "saburo", "shiro"):
        assert (
            main(["--workspace", str(ws), "gather", "--account", f"{name}@example.co.jp", str(sources.root)])
            == 0
        )
    return _report(ws, tmp / "four.html")


@pytest.fixture(scope="module")
def long_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """400 messages, half with Japanese subjects, in one mbox: tables far longer than a screen."""
    tmp = tmp_path_factory.mktemp("long")
    mbox = tmp / "sources" / "a-rather-long-folder-name-as-customers-make-them" / "Inbox.mbox"
    mbox.parent.mkdir(parents=True)
    with mbox.open("wb") as f:
        for i in [*range(100), *range(300, 600)]:  # a hole of about five days in the middle
            raw = message(i, size=300, japanese=i % 2 == 0).replace(b"\r\n", b"\n")
            f.write(b"From sender@example.net Mon Jun 18 12:00:00 2012\n" + raw + b"\n")
    ws = tmp / "ws"
    assert main(["--workspace", str(ws), "gather", "--account", ACCOUNT, str(mbox)]) == 0
    return _report(ws, tmp / "long.html")


def _open(browser: Browser, page: Path, shot: Path | None = None, width: int = WIDTH) -> Page:
    tab = browser.open(page.as_uri(), width, HEIGHT)
    if shot is not None:
        tab.screenshot(shot)
    return tab


def _box(tab: Page, selector: str) -> dict[str, float]:
    box = tab.evaluate(
        f"JSON.stringify(document.querySelector({json.dumps(selector)}).getBoundingClientRect())"
    )
    return dict(json.loads(box))


@pytest.mark.parametrize("which", ["example_page", "japanese_page", "long_page"])
def test_the_page_loads_with_no_error_and_fetches_nothing(browser, which, request, tmp_path):
    page: Path = request.getfixturevalue(which)
    tab = _open(browser, page, tmp_path / f"{which}.png")
    assert tab.errors() == []
    assert tab.requests() == [page.as_uri()]
    assert (
        tab.evaluate("document.scripts.length + document.querySelectorAll('img,link,iframe,object').length")
        == 0
    )
    # nothing wider than the window: no sideways scrolling on a laptop
    assert tab.evaluate("document.documentElement.scrollWidth") <= WIDTH


@pytest.mark.parametrize("which", ["example_page", "japanese_page", "long_page"])
def test_on_a_phone_wide_tables_scroll_and_the_page_does_not(browser, which, request, tmp_path):
    tab = _open(browser, request.getfixturevalue(which), width=400)
    tab.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")  # as a reader would
    tab.screenshot(tmp_path / f"{which}-phone.png")
    assert tab.evaluate("document.documentElement.scrollWidth") <= 400
    assert _box(tab, "#summary table")["right"] <= 400


def test_the_checks_see_a_page_that_reaches_out(browser, japanese_page, tmp_path):
    """The same report with an image from the network added: the browser's refusal and the
    request are both seen, so the test above would catch a page that fetched anything."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        japanese_page.read_text(encoding="utf-8").replace(
            "</body>", '<img src="http://127.0.0.1:9/tracker.png"></body>'
        ),
        encoding="utf-8",
    )
    tab = _open(browser, bad)
    assert any("Content Security Policy" in e for e in tab.errors())
    assert "http://127.0.0.1:9/tracker.png" in tab.requests()


@pytest.mark.parametrize("which", ["example_page", "japanese_page", "long_page", "four_accounts_page"])
def test_summary_and_timeline_are_above_the_fold(browser, which, request, tmp_path):
    tab = _open(browser, request.getfixturevalue(which), tmp_path / f"{which}.png")
    for selector in (
        "#summary",
        "#a0 + section .cards",
        "#a0 + section .timeline svg",
        "#a0 + section .legend",
    ):
        box = _box(tab, selector)
        assert box["height"] > 0 and box["top"] >= 0, selector
        assert box["bottom"] <= HEIGHT, f"{selector} ends at {box['bottom']:.0f} px, below the fold"
        assert box["right"] <= WIDTH, selector


def _hole_labels(tab: Page) -> list[dict[str, object]]:
    """Per hole drawn, its shaded box and the text drawn on it (centred over it, within its height)."""
    return list(
        json.loads(
            tab.evaluate("""JSON.stringify([...document.querySelectorAll('rect.hole')].map(r => {
        const box = r.getBoundingClientRect();
        const inside = [...r.ownerSVGElement.querySelectorAll('text')].filter(t => {
            const b = t.getBoundingClientRect(), middle = (b.left + b.right) / 2;
            return b.width > 0 && middle >= box.left - 1 && middle <= box.right + 1
                && b.top >= box.top - 1 && b.bottom <= box.bottom + 1
                && (b.right <= box.right + 1 && b.left >= box.left - 1 || /^[0-9]+$/.test(t.textContent)); });
        return {width: box.width, title: r.querySelector('title').textContent,
                text: inside.map(t => t.textContent)}; }))""")
        )
    )


def test_the_holes_are_labelled_on_the_timeline(browser, japanese_page, tmp_path):
    tab = _open(browser, japanese_page, tmp_path / "holes.png")
    holes = _hole_labels(tab)
    assert [h["title"] for h in holes] == ["no mail recovered from 2012-06-09 to 2012-06-19 (11 days)"]
    assert holes[0]["text"] == ["no mail for 11 days", "2012-06-09 – 2012-06-19"]


def test_every_hole_has_a_label_even_a_narrow_one(browser, example_page, long_page, tmp_path):
    """A hole too narrow for words carries its number in the list of holes below the chart
    (centred on it, it may be wider than the hole)."""
    for page in (example_page, long_page):
        tab = _open(browser, page, tmp_path / f"{page.stem}.png")
        holes = _hole_labels(tab)
        assert holes, page
        for hole in holes:
            assert hole["text"], hole
            days = re.search(r"\((\d+) days\)", str(hole["title"]))
            assert days and (f"no mail for {days[1]} days" in hole["text"] or hole["text"][0].isdigit()), hole


def test_narrow_holes_carry_their_number_and_no_label_hides_another(browser, tmp_path):
    """Years of daily mail with holes of 5 to 400 days: the widest say what they are, narrow
    ones show their number from the list under the chart, and no two labels overlap."""
    from collections import Counter
    from datetime import date, timedelta

    from mailrecover.report_html import _STYLE, _timeline

    first, gaps = date(2009, 1, 1), [(100, 5), (110, 6), (300, 400), (900, 30), (1500, 4), (1506, 4)]
    off = {first + timedelta(days=start + i) for start, length in gaps for i in range(length)}
    ok = Counter({first + timedelta(days=n): 1 for n in range(1800) if first + timedelta(days=n) not in off})
    page = tmp_path / "timeline.html"
    page.write_text(
        f"<!DOCTYPE html><meta charset=utf-8><style>{_STYLE}</style>"
        f"{_timeline(ok, Counter(), date(2026, 1, 1))}",
        encoding="utf-8",
    )
    tab = _open(browser, page, tmp_path / "timeline.png")
    holes = _hole_labels(tab)
    assert len(holes) == len(gaps)
    assert sorted(h["text"][0] for h in holes if h["text"] and h["text"][0].isdigit())  # some drawn by number
    assert ["no mail for 400 days", "2009-10-28 – 2010-12-01"] in [h["text"] for h in holes]
    # each hole shows, however narrow: no bar of the days around it is drawn over it
    seen = tab.evaluate(
        "[...document.querySelectorAll('rect.hole')].map(r => {"
        " const b = r.getBoundingClientRect(), x = (b.left + b.right) / 2;"
        " return document.elementFromPoint(x, b.bottom - 3).getAttribute('class') })"
    )
    assert seen == ["hole"] * len(gaps)
    boxes = json.loads(
        tab.evaluate(
            "JSON.stringify([...document.querySelectorAll('text.hole-label')].map(t => {"
            " const b = t.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom] }))"
        )
    )
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)


def _covering(text: str) -> set[str]:
    """Font families installed here that hold every character of ``text`` (fontconfig's view)."""
    charset = " ".join(f"{ord(c):x}" for c in sorted(set(text)) if not c.isspace())
    listed = subprocess.run(
        ["fc-list", f":charset={charset}", "family"], capture_output=True, text=True, check=True
    )
    return {name.strip() for line in listed.stdout.splitlines() for name in line.split(",")}


@pytest.mark.parametrize("subject", ["会議の議事録について", "見積書の件"])
def test_japanese_subjects_are_drawn_with_a_font_that_has_them(browser, example_page, subject):
    """A glyph missing from every font is drawn as an empty box (tofu): each font the browser
    used for the subject must hold all of its characters."""
    covering = _covering(subject)
    assert covering, "no installed font holds Japanese characters (Debian: fonts-ipafont-gothic)"
    tab = _open(browser, example_page)
    tab.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")  # as a reader would
    used = tab.fonts_of_text(subject, "td")
    assert used and {f["familyName"] for f in used} <= covering, used


def test_a_long_table_keeps_its_header_in_view(browser, long_page, tmp_path):
    tab = _open(browser, long_page)
    tab.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")  # as a reader would
    rows = tab.evaluate("document.querySelectorAll('.messages tbody tr').length")
    assert rows == 400
    # scrolled to the 300th message: the header of the messages table is what the eye sees at the top
    tab.evaluate(
        "window.scrollTo(0, document.querySelectorAll('.messages tbody tr')[300]"
        ".getBoundingClientRect().top + window.scrollY - 400)"
    )
    tab.screenshot(tmp_path / "scrolled.png")
    top = tab.evaluate(
        "(() => { const e = document.elementFromPoint(400, 4), head = e && e.closest('thead');"
        " return head ? head.closest('table').className + ':' + e.textContent : null })()"
    )
    assert top is not None and top.startswith("messages"), top


def _media_boxes(pdf: bytes) -> list[tuple[float, float]]:
    return [
        (float(w), float(h))
        for w, h in re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", pdf)
    ]


@pytest.mark.parametrize("which", ["example_page", "japanese_page", "long_page"])
def test_the_page_prints_on_a4_with_every_message(browser, which, request, tmp_path):
    page: Path = request.getfixturevalue(which)
    tab = _open(browser, page)
    pdf = tab.pdf(tmp_path / f"{which}.pdf")
    boxes = _media_boxes(pdf)
    assert boxes and all(abs(w - A4[0]) < 2 and abs(h - A4[1]) < 2 for w, h in boxes), boxes[:3]
    # on paper nothing can be clicked open: the collapsed lists are printed, and nothing is cut at the side
    tab.send("Emulation.setEmulatedMedia", {"media": "print"})
    tab.send(
        "Emulation.setDeviceMetricsOverride",
        {"width": 700, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
    )  # A4 less the margins
    hidden = tab.evaluate(
        "[...document.querySelectorAll('tbody tr')].filter(r => !r.getClientRects().length).length"
    )
    assert hidden == 0
    assert tab.evaluate("document.documentElement.scrollWidth") <= 700
