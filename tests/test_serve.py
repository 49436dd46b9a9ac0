"""matcalc serve over HTTP: the endpoint's documents and errors, its limits, its headers and its files."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection
from urllib.parse import urlencode

import pytest

from matcalc.serve import HEADERS, make_server

SLOW = "||" + " + ".join(f"x^T A{i} x" for i in range(1, 300)) + "||"  # a Hessian of a second or more


@pytest.fixture(scope="module")
def server():
    srv = make_server(port=0, quiet=True, time_limit=10.0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def get(server, path: str, raw: bool = False):
    conn = HTTPConnection(*server.server_address[:2], timeout=60)
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    if raw:
        return response, body
    return response.status, json.loads(body)


def api(server, **query):
    return get(server, "/api?" + urlencode(query))


def cli_json(*args) -> dict:
    out = subprocess.run([sys.executable, "-m", "matcalc", *args, "--json"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@pytest.mark.parametrize("op,expr,wrt,let", [
    ("grad", "x^T A x", "x", "A=symmetric"),
    ("grad", "||X W + b^T - Y||_F^2", "W,b", ""),
    ("hess", "||x||^3", "x", ""),
    ("jac", "softmax(x)", "x", ""),
    ("derive", "det(AXB)", "X", ""),
])
def test_the_document_is_the_command_lines(server, op, expr, wrt, let):
    status, doc = api(server, op=op, expr=expr, wrt=wrt, let=let)
    assert status == 200
    args = [op, expr, "--wrt", wrt] + (["--let", let] if let else [])
    assert doc == cli_json(*args)


def test_the_document_with_a_check_follows_the_schema(server):
    jsonschema = pytest.importorskip("jsonschema")
    from matcalc.output import schema

    status, doc = api(server, op="grad", expr="x^T A x", wrt="x", check="1")
    assert status == 200 and doc["results"][0]["check"]["passed"] is True
    jsonschema.validate(doc, schema())
    status, doc = api(server, op="derive", expr="||x||^3", wrt="x", order="2", check="1")
    assert status == 200 and doc["results"][0]["kind"] == "hessian" and doc["results"][0]["steps"]
    jsonschema.validate(doc, schema())


def test_variables_with_their_kinds(server):
    status, answer = api(server, op="variables", expr="x^T A x + theta^T x", let="theta=vector,A=symmetric")
    assert status == 200
    assert answer["kinds"][:4] == ["scalar", "vector", "matrix", "symmetric"]
    assert {"onehot", "pm1", "orthogonal", "posdef"} <= set(answer["kinds"])
    kinds = {v["name"]: (v["kind"], v["inferred"]) for v in answer["variables"]}
    # undeclared, the text reads too: theta as the only kind that fits, a vector
    assert kinds == {"A": ("symmetric", "matrix"), "theta": ("vector", "vector"), "x": ("vector", "vector")}
    status, answer = api(server, op="variables", expr="||X w - y||^2 + lambda ||w||^2")
    assert {v["name"]: v["kind"] for v in answer["variables"]} == {"X": "matrix", "lambda": "scalar", "w": "vector",
                                                                  "y": "vector"}
    status, answer = api(server, op="variables", expr="FC = X W; sum(FC)")
    assert [(v["name"], v["kind"], v["inferred"]) for v in answer["variables"]] == [("W", "matrix", "matrix"),
                                                                                    ("X", "matrix", "matrix")]


def test_forms_name_shared_subexpressions_and_give_code(server):
    status, forms = api(server, op="forms", of="grad", expr="||sigmoid(X W1 + b1^T) W2 + b2^T - Y||_F^2",
                        wrt="W1,b1,W2,b2")
    assert status == 200
    assert [d["name"] for d in forms["definitions"]] == ["Z1", "Z2", "Z3"]
    assert forms["results"][0]["text"] == "2 X^T Z3"
    assert "def grad(W1, W2, X, Y, b1, b2):" in forms["code"]
    assert forms["function"].startswith("def grad(W1, W2, X, Y, b1, b2):") and forms["code"].endswith(forms["function"])
    status, forms = api(server, op="forms", of="derive", expr="det(AXB)", wrt="X")
    assert status == 200 and forms["results"][0]["label"] == "grad_X f"


@pytest.mark.parametrize("query,says", [
    ({"op": "grad", "expr": "x^T A (x", "wrt": "x"}, "missing ')'"),
    ({"op": "grad", "expr": "x^T A x", "wrt": "y"}, "y"),
    ({"op": "grad", "expr": "x^T A x", "wrt": "x", "let": "A=banana"}, "banana"),
    ({"op": "grad", "expr": "x^T A x", "wrt": "x", "let": "A"}, "NAME=KIND"),
    ({"op": "grad", "expr": "x^T A x"}, "no variable"),
    ({"op": "grad", "wrt": "x"}, "no expression"),
    ({"op": "eval", "expr": "x", "wrt": "x"}, "op must be one of"),
    ({"op": "grad", "expr": "x", "wrt": "x", "extra": "1"}, "unknown parameter"),
    ({"op": "derive", "expr": "x^T A x", "wrt": "x,A"}, "one variable"),
    ({"op": "grad", "expr": "x^T A x", "wrt": "x", "order": "3"}, "order"),
    ({"op": "jac", "expr": "x^T A x", "wrt": "x"}, "scalar"),
])
def test_errors_are_400_with_a_message(server, query, says):
    status, answer = api(server, **query)
    assert status == 400
    assert set(answer) == {"error", "column", "line"}
    assert says in answer["error"]


def test_a_syntax_error_has_its_column_and_line(server):
    status, answer = api(server, op="grad", expr="x^T A x\n+ ) y", wrt="x")
    assert status == 400 and (answer["line"], answer["column"]) == (2, 3)
    assert answer["error"].splitlines()[-1] == "    ^"


@pytest.mark.parametrize("expr", [
    "(" * 10_000 + "x" + ")" * 10_000,            # 10,000-deep nesting
    "x" * 1_000_000,                               # a megabyte
    "^".join(["2"] * 3000) + " x^T x",            # a tower of powers
    "(" * 4000 + "x" + ")" * 4000 + "^T x",       # deep, within the length limit
    "sum(x)^(" + "^".join(["9"] * 40) + ")",
])
def test_hostile_expressions_get_an_error(server, expr):
    start = time.monotonic()
    conn = HTTPConnection(*server.server_address[:2], timeout=60)
    conn.request("GET", "/api?" + urlencode({"op": "grad", "expr": expr, "wrt": "x"}))
    response = conn.getresponse()
    body = response.read()
    assert response.status in (400, 414)  # a megabyte in a URL is refused by the HTTP layer
    if response.status == 400:
        assert "error" in json.loads(body)
    assert time.monotonic() - start < 11


def test_the_time_limit_and_others_still_answered():
    srv = make_server(port=0, quiet=True, time_limit=0.5)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        with ThreadPoolExecutor(2) as pool:
            slow = pool.submit(api, srv, op="hess", expr=SLOW, wrt="x")
            time.sleep(0.05)
            start = time.monotonic()
            quick = api(srv, op="grad", expr="x^T A x", wrt="x")
            quick_time = time.monotonic() - start
            status, answer = slow.result()
        assert quick[0] == 200 and quick[1]["results"][0]["text"] == "(A + A^T) x"
        assert quick_time < 0.5  # not behind the slow one
        assert status == 400 and "longer than 0.5 s" in answer["error"]
        assert api(srv, op="grad", expr="x^T x", wrt="x")[0] == 200
    finally:
        srv.shutdown()
        srv.server_close()


def test_the_memory_limit():
    srv = make_server(port=0, quiet=True, memory=16 << 20)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        status, answer = api(srv, op="hess", expr=SLOW, wrt="x", check="1")
        assert status == 400 and "memory" in answer["error"]
        assert api(srv, op="grad", expr="x^T x", wrt="x")[0] == 200
    finally:
        srv.shutdown()
        srv.server_close()


def test_headers(server):
    for path in ("/", "/app.js", "/api?op=grad&expr=x&wrt=x"):
        response, _ = get(server, path, raw=True)
        for name, value in HEADERS.items():
            assert response.getheader(name) == value
    policy = HEADERS["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "http" not in policy
    assert HEADERS["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path,kind", [
    ("/", "text/html"), ("/index.html", "text/html"), ("/app.js", "text/javascript"), ("/style.css", "text/css"),
    ("/katex/katex.min.js", "text/javascript"), ("/katex/katex.min.css", "text/css"),
    ("/katex/fonts/KaTeX_Main-Regular.woff2", "font/woff2"),
])
def test_static_files(server, path, kind):
    response, body = get(server, path, raw=True)
    assert response.status == 200 and response.getheader("Content-Type").startswith(kind) and body


@pytest.mark.parametrize("path", [
    "/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/%2e%2e/", "/katex/../../serve.py", "/..%2fserve.py",
    "/serve.py", "/web/index.html", "//etc/passwd", "/katex/", "/nothing",
])
def test_only_its_own_files(server, path):
    response, body = get(server, path, raw=True)
    assert response.status == 404 and b"root:" not in body and b"import" not in body


@pytest.mark.parametrize("host,status", [("127.0.0.1:1", 200), ("localhost", 200), ("[::1]:8000", 200),
                                         ("evil.example:80", 403), ("127.0.0.1.evil.example", 403), ("", 403)])
def test_answers_only_to_a_loopback_host_name(server, host, status):
    conn = HTTPConnection(*server.server_address[:2], timeout=30)
    conn.putrequest("GET", "/api?op=grad&expr=x&wrt=x", skip_host=True)
    if host:
        conn.putheader("Host", host)
    conn.endheaders()
    response = conn.getresponse()
    response.read()
    assert response.status == (400 if status == 200 else 403)  # grad of a vector x: an error, but an answer


def test_binds_to_loopback_by_default():
    srv = make_server(quiet=True)
    try:
        assert srv.server_address[0] == "127.0.0.1" and srv.server_address[1] > 0
    finally:
        srv.server_close()


def test_the_command_prints_the_port():
    proc = subprocess.Popen([sys.executable, "-m", "matcalc", "serve", "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("serving on http://127.0.0.1:")
        port = int(line.rsplit(":", 1)[1].strip("/\n"))
        conn = HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/api?" + urlencode({"op": "grad", "expr": "x^T x", "wrt": "x"}))
        assert json.loads(conn.getresponse().read())["results"][0]["text"] == "2 x"
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_syntax_table_is_the_readme_s():
    from pathlib import Path

    import matcalc

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    page = (Path(matcalc.__file__).parent / "web" / "index.html").read_text()
    rows = readme.split("## Syntax")[1].split("Inside a norm")[0]
    import html
    import re

    for row in rows.splitlines()[2:]:
        if row.startswith("| "):
            for code in re.findall(r"`([^`]*)`", row):
                assert f"<code>{html.escape(code)}</code>" in page, code


def test_a_bounded_load():
    """200 requests from 8 concurrent clients, hostile ones among them (one past the time limit): all answered."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parent.parent / "benchmarks" / "bench_serve.py"
    spec = importlib.util.spec_from_file_location("bench_serve", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    r = bench.run(requests=200, clients=8, timeouts=1, time_limit=2.0)
    assert r["answered"] == r["as_expected"] == 200
    assert r["cases"]["hostile: longer than the time limit"][0]["status"] == 400
    assert r["worst"] < 30
