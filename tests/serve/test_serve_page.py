"""The page at ``/``: real headless Chromium (Debian's, driven by Playwright; no browser is downloaded) draws a
stroke on the canvas, and the page shows what ``dlnotes predict`` answers for the PNG it sent."""

import base64
import re
import shutil
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parents[2] / "dlnotes" / "serve" / "static"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]


def test_the_page_loads_nothing_from_elsewhere():
    for f in STATIC.iterdir():
        urls = set(re.findall(r"[a-z]+://[^\s\"'`)]+", f.read_text()))
        assert urls <= {"http://www.w3.org/2000/svg"}, (f.name, urls)  # SVG's namespace name, never fetched


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium; "
                                             ".ci/run installs it)")
def test_a_stroke_drawn_on_the_page_is_answered_as_predict_answers_it(serve_client, predicted, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(tmp_path / "profile", executable_path=CHROMIUM,
                                                       headless=True, args=FLAGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(90_000)
            page.goto(serve_client.url + "?run=digits")
            page.wait_for_selector("body[data-ready=true]")
            box = page.locator("#canvas").bounding_box()
            with page.expect_response("**/predict") as answered:
                page.mouse.move(box["x"] + 150, box["y"] + 40)
                page.mouse.down()
                for i in range(1, 21):  # a "7": across, then down to the left
                    x, y = (150 + 4 * i, 40) if i <= 10 else (190 - 6 * (i - 10), 40 + 20 * (i - 10))
                    page.mouse.move(box["x"] + x, box["y"] + y)
                page.mouse.up()
            page.wait_for_selector("#bars .bar")  # (the page's CSP forbids evaluating strings: no wait_for_function)
            shown = page.locator("#prediction").text_content()
            bars = [(b.get_attribute("data-class"), b.locator("span").nth(1).text_content())
                    for b in page.locator(".bar").all()]
            assert answered.value.status == 200
            drawn = page.evaluate("document.getElementById('canvas').toDataURL('image/png')")  # the pixels it sent
        finally:
            browser.close()
    (tmp_path / "drawn.png").write_bytes(base64.b64decode(drawn.partition(",")[2]))
    want = predicted("digits", tmp_path / "drawn.png", "--top-k", 10)[0]
    assert shown == want["prediction"]
    top = sorted(want["probabilities"].items(), key=lambda kv: -kv[1])[:5]
    assert bars == [(name, f"{100 * p:.1f} %") for name, p in top]
