"""The screenshot of ``matcalc serve`` in README: examples/serve.png, made with Playwright and chromium.

    python examples/serve_screenshot.py [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import os
import threading
from urllib.parse import urlencode

from matcalc.serve import make_server, url_of

HERE = os.path.dirname(os.path.abspath(__file__))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
QUERY = {"op": "derive", "expr": "det(AXB)", "wrt": "X", "check": "1"}


def main() -> None:
    from playwright.sync_api import sync_playwright

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("--out", default=os.path.join(HERE, "serve.png"))
    args = p.parse_args()
    server = make_server(port=0, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, args=ARGS)
            page = browser.new_page(viewport={"width": 960, "height": 900})
            page.goto(url_of(server) + "?" + urlencode(QUERY))
            page.wait_for_selector("body[data-ready='1'] #derivation .katex")
            page.wait_for_timeout(300)  # the fonts
            page.screenshot(path=args.out, full_page=True)
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
