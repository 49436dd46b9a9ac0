"""The page of matcalc serve in a real browser: Playwright driving Debian's chromium."""

from __future__ import annotations

import os
import threading
from urllib.parse import urlencode

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install '.[browser]'")
CHROMIUM = os.environ.get("MATCALC_CHROMIUM", "/usr/bin/chromium")
if not os.path.exists(CHROMIUM):
    pytest.skip(f"no chromium at {CHROMIUM}: apt-get install chromium", allow_module_level=True)

from matcalc.serve import make_server, url_of  # noqa: E402

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def base():
    srv = make_server(port=0, quiet=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield url_of(srv)
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A page that fails the test on any dialog, script error or policy violation."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    pg = context.new_page()
    problems = []
    pg.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    pg.on("pageerror", lambda e: problems.append(f"script error: {e}"))
    pg.on("console", lambda m: problems.append(f"console: {m.text}")
          if m.type == "error" and "status of 400" not in m.text else None)  # an error answer is logged
    yield pg
    context.close()
    assert problems == []


def ready(pg):
    pg.wait_for_selector("body[data-ready='1']")


def type_expression(pg, text):
    pg.fill("#expr", text)
    pg.wait_for_selector("#variables tbody tr")


def test_type_choose_and_see_the_gradient(page, base, tmp_path):
    page.goto(base)
    ready(page)
    type_expression(page, "x^T A x")
    names = [page.locator("#variables select").nth(i).get_attribute("data-name") for i in range(2)]
    assert names == ["A", "x"]
    assert page.locator("#variables tbody th .katex").count() == 2
    page.select_option('select[data-name="A"]', "symmetric")
    page.check('#variables input[value="x"]')
    page.click("#compute")
    page.wait_for_selector("#result .katex")
    assert page.locator("#result annotation").first.text_content() == "\\nabla_{x} f = 2 A x"
    assert page.text_content("#text") == "grad_x f = 2 A x"
    assert page.text_content("#code").startswith("def grad(A, x):")  # the function first
    runtime = page.locator("#runtime-box")
    assert runtime.get_attribute("open") is None and page.text_content("#runtime").startswith("import numpy")
    assert "lines (Copy code copies them too)" in page.text_content("#runtime-summary")
    assert "op=grad" in page.url and "let=A%3Dsymmetric" in page.url and "wrt=x" in page.url
    page.screenshot(path=str(tmp_path / "gradient.png"), full_page=True)
    assert (tmp_path / "gradient.png").stat().st_size > 10_000


def test_the_derivation_with_its_rules_and_the_check(page, base, tmp_path):
    page.goto(base + "?" + urlencode({"op": "derive", "expr": "det(AXB)", "wrt": "X", "check": "1"}))
    ready(page)
    page.wait_for_selector("#derivation .step .katex")
    steps = page.locator("#derivation .step")
    assert steps.count() >= 5
    words = page.locator("#derivation .rule .words").all_inner_texts()
    assert any("Jacobi" in w for w in words) and any("product rule" in w for w in words)
    assert page.locator("#derivation .rule .identity .katex").count() >= len(words) - 1
    check = page.inner_text("#check-result")
    assert check.startswith("X: ok: largest relative error") and "random points" in check
    page.screenshot(path=str(tmp_path / "derivation.png"), full_page=True)


def test_shared_subexpressions_are_named(page, base):
    page.goto(base + "?" + urlencode({"op": "grad", "expr": "||sigmoid(X W1 + b1^T) W2 + b2^T - Y||_F^2",
                                      "wrt": "W1,b1,W2,b2"}))
    ready(page)
    page.wait_for_selector("#result .katex")
    assert page.locator("#result .line").count() == 7
    assert page.text_content("#text").splitlines()[0] == "Z1 = sigmoid(X W1 + b1^T)"


def test_a_syntax_error_with_its_caret(page, base):
    page.goto(base)
    ready(page)
    page.fill("#expr", "x^T A (x + y")
    page.wait_for_selector("#error:not([hidden]) pre")
    assert "missing ')'" in page.inner_text("#error .cause")
    line, caret = page.locator("#error pre").text_content().split("\n")
    assert line == "x^T A (x + y"
    assert caret == " " * len("x^T A (x + y") + "^"
    page.fill("#expr", "x^T A x\n+ ) y")
    page.wait_for_selector("#error pre >> text=+ ) y")
    assert page.locator("#error pre").text_content() == "+ ) y\n  ^"


def test_reload_from_the_url(page, base):
    url = base + "?" + urlencode({"op": "hess", "expr": "||x||^3", "wrt": "x"})
    page.goto(url)
    ready(page)
    page.wait_for_selector("#result .katex")
    assert page.text_content("#text") == "hess_x f = 3 x x^T / ||x|| + 3 ||x|| I"
    assert page.is_checked('input[name="op"][value="hess"]') and page.is_checked('#variables input[value="x"]')
    page.reload()
    ready(page)
    page.wait_for_selector("#result .katex")
    assert page.text_content("#text") == "hess_x f = 3 x x^T / ||x|| + 3 ||x|| I"


def test_an_error_from_the_url(page, base):
    page.goto(base + "?" + urlencode({"op": "jac", "expr": "x^T x", "wrt": "x"}))
    ready(page)
    assert "scalar" in page.inner_text("#error") and page.is_hidden("#output")


@pytest.mark.parametrize("text", ["</script><script>alert(1)</script>", "a}\\input{x}",
                                  "<img src=x onerror=alert(1)>", "x^T x; \\href{javascript:alert(1)}{x}"])
def test_hostile_text_stays_text(page, base, text):
    for url in (base + "?" + urlencode({"op": "grad", "expr": text, "wrt": "x"}),
                base + "?" + urlencode({"op": "grad", "expr": "x^T x", "wrt": f"x,{text}", "let": f"{text}=matrix"})):
        page.goto(url)
        ready(page)
        page.wait_for_timeout(200)
        assert page.locator("script").count() == 2 and page.locator("img").count() == 0
        assert page.locator("#error a, #result a").count() == 0
    page.goto(base)
    ready(page)
    page.fill("#expr", text)
    page.wait_for_selector("#error:not([hidden])")
    assert page.locator("#error .cause").count() == 1 and page.locator("script").count() == 2
    page.click("#compute")
    page.wait_for_timeout(300)
    assert page.locator("script").count() == 2 and page.locator("img").count() == 0


def test_keyboard_alone(page, base):
    page.goto(base)
    ready(page)
    page.focus("#expr")
    page.keyboard.type("x^T x")
    page.wait_for_selector("#variables tbody tr")
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.type === 'checkbox' && document.activeElement.value === 'x'"):
            break
    else:
        pytest.fail("the variable's checkbox is not reached with Tab")
    page.keyboard.press("Space")
    page.focus("#expr")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#result .katex")
    assert page.text_content("#text") == "grad_x f = 2 x"
    order = page.evaluate("""() => { const seen = []; let el = document.body;
        for (const n of document.querySelectorAll('textarea, summary, select, input, button'))
          if (n.offsetParent !== null) seen.push(n.id || n.value || n.tagName); return seen; }""")
    assert order.index("expr") < order.index("compute") < order.index("copy-latex")


def test_phone_width(browser, base, tmp_path):
    context = browser.new_context(viewport={"width": 375, "height": 740}, device_scale_factor=2)
    pg = context.new_page()
    pg.goto(base + "?" + urlencode({"op": "grad", "expr": "logdet(S) + (x - mu)^T inv(S) (x - mu)",
                                    "wrt": "mu,S", "let": "S=symmetric,mu=vector"}))
    pg.wait_for_selector("#result .katex")
    width = pg.evaluate("document.documentElement.scrollWidth")
    assert width <= 375  # nothing sticks out: long lines scroll inside their own box
    assert pg.evaluate("getComputedStyle(document.getElementById('compute')).width") != "auto"
    assert pg.is_hidden("#order-label")  # the second order is a derivation's option only
    pg.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
    context.close()


def test_copy_buttons(browser, base):
    context = browser.new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base.rstrip("/"))
    pg = context.new_page()
    pg.goto(base + "?" + urlencode({"op": "grad", "expr": "x^T A x", "wrt": "x", "let": "A=symmetric"}))
    pg.wait_for_selector("body[data-ready='1'] #result .katex")
    copied = {}
    for button in ("copy-latex", "copy-text", "copy-code"):
        pg.evaluate("() => { document.getElementById('copied').textContent = ''; }")
        pg.click(f"#{button}")
        pg.wait_for_selector("#copied >> text=copied")
        copied[button] = pg.evaluate("() => navigator.clipboard.readText()")
    assert copied["copy-latex"] == "\\nabla_{x} f = 2 A x"
    assert copied["copy-text"] == "grad_x f = 2 A x"
    assert copied["copy-code"].startswith("import numpy as _numpy") and "def grad(A, x):" in copied["copy-code"]
    context.close()
