"""``matcalc serve``: the web page for matrix calculus, and its JSON endpoint, on a local server.

    GET /                                   the page (matcalc/web/: HTML, JS, CSS and KaTeX)
    GET /api?op=grad&expr=x^T A x&wrt=x&let=A=symmetric[&check=1]
                                            the document ``matcalc grad ... --json`` prints
    GET /api?op=derive&expr=...&wrt=X[&order=2]
    GET /api?op=variables&expr=...          the names of the expression and their kinds
    GET /api?op=forms&of=grad&expr=...      the results with shared subexpressions named, and NumPy code

An error is ``{"error": message, "column": c, "line": l}`` with status 400.  Each request runs
the engine in a process of its own (forked from a server process that imported matcalc once),
with a time limit and a limit on its memory, so that a hostile expression gets an error and
the server goes on answering.  The server serves only the files of matcalc/web, binds to the
loopback interface unless told otherwise, and sends a Content-Security-Policy that forbids
inline scripts and every other origin.

The workers come from multiprocessing's fork server, so a program that calls ``make_server``
itself must guard its main module with ``if __name__ == "__main__":``, as multiprocessing asks."""

from __future__ import annotations

import json
import mimetypes
import multiprocessing
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from .errors import DerivativeError, MatcalcError, UsageError

WEB = Path(__file__).with_name("web")
TIME_LIMIT = 10.0  # seconds of one request's computation
MEMORY_LIMIT = 1 << 30  # bytes a worker may allocate beyond what it holds when it starts
MAX_EXPRESSION = 10_000  # characters of an expression
MAX_FIELD = 1_000  # characters of wrt and let
WORKERS = 8  # computations at once; further requests wait for one to finish
QUEUE_WAIT = 30.0  # seconds a request waits for a worker before it is refused
LOOPBACK = ("127.0.0.1", "localhost", "::1")
OPS = ("grad", "hess", "jac", "derive", "variables", "forms")
OF = ("grad", "hess", "jac", "derive")

HEADERS = {
    # KaTeX sets its styles through the DOM (CSSOM), which a policy does not restrict; no inline
    # <style>, no inline script, nothing from another origin
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self'; font-src 'self'; "
                                "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
                                "form-action 'self'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".woff2": "font/woff2", ".woff": "font/woff", ".ttf": "font/ttf",
         ".png": "image/png", ".svg": "image/svg+xml", ".txt": "text/plain; charset=utf-8"}


class RequestError(MatcalcError):
    """A request the endpoint cannot take (a missing or unknown parameter, an input too long)."""


# -- the computation, in a worker process ----------------------------------------------------------


def _names(value: str) -> list[str]:
    return [n.strip() for n in value.split(",") if n.strip()]


def _variables(text: str, declarations: dict) -> dict:
    from .guard import user_errors
    from .kinds import NAMES
    from .pipeline import read
    from .printing import to_latex
    from .verify import symbols_of

    def reading(declare):
        """The text as a gradient reads it (Greek names scalars where that fixes them), else as a Jacobian does."""
        try:
            return read(text, declare, scalar=True)
        except MatcalcError:
            return read(text, declare)

    @user_errors
    def names():
        program = reading(declarations)
        inferred = {s.name: s.kind for s in symbols_of(program.function)}
        if declarations:  # the kind each name has undeclared, if the text reads without its declarations
            try:
                inferred = {s.name: s.kind for s in symbols_of(reading({}).function)}
            except MatcalcError:
                inferred = {}
        defined = {name for name, _ in program.definitions}
        return [{"name": s.name, "kind": s.kind, "inferred": inferred.get(s.name), "latex": to_latex(s),
                 "shape": [str(d) for d in s.dims]}
                for s in symbols_of(program.function) if s.name not in defined]

    return {"expression": text, "declarations": declarations, "kinds": list(NAMES), "variables": names()}


def _forms(of: str, text: str, wrt: list[str], declarations: dict, order: int) -> dict:
    """The results as the command line prints them (shared subexpressions named when long) and their code."""
    from .api import LABELS, gradient, hessian, jacobian, shared_form
    from .codegen import results_source
    from .derivation import derive
    from .guard import user_errors
    from .printing import to_latex, to_text

    @user_errors
    def compute():
        if of == "derive":
            if len(wrt) != 1:
                raise DerivativeError("a derivation is with respect to one variable")
            r = derive(text, wrt=wrt[0], declare=declarations, order=order).result
            results = {r.variable.name: r}
        else:
            results = {"grad": gradient, "hess": hessian, "jac": jacobian}[of](text, wrt=wrt, declare=declarations)
        first = next(iter(results.values()))
        definitions, written = shared_form(results)
        name = LABELS[first.kind][0]
        code = results_source(results, name)
        function = code[code.index(f"\ndef {name}(") + 1:]  # shown first; the runtime before it folded
        return {"definitions": [{"name": to_text(s), "text": to_text(v), "latex": f"{to_latex(s)} = {to_latex(v)}"}
                                for s, v in definitions],
                "results": [{"variable": name, "label": r.label, "text": to_text(written[name]),
                             "latex": f"{LABELS[r.kind][1] % to_latex(r.variable)} = {to_latex(written[name])}"}
                            for name, r in results.items()],
                "code": code, "function": function}

    return compute()


def _declarations(value: str) -> dict:
    from .cli import parse_lets

    return parse_lets([value]) if value.strip() else {}


def answer(query: dict) -> dict:
    """The JSON answer to a query (parameter -> value), or a MatcalcError."""
    from .output import command_document

    op = query.get("op", "")
    if op not in OPS:
        raise RequestError(f"op must be one of {', '.join(OPS)}, got {op[:40]!r}")
    text = query.get("expr", "")
    if not text.strip():
        raise RequestError("no expression: give expr=...")
    if len(text) > MAX_EXPRESSION:
        raise RequestError(f"the expression is longer than {MAX_EXPRESSION} characters")
    if any(len(query.get(k, "")) > MAX_FIELD for k in ("wrt", "let")):
        raise RequestError(f"wrt and let are limited to {MAX_FIELD} characters")
    declarations = _declarations(query.get("let", ""))
    if op == "variables":
        return _variables(text, declarations)
    wrt = _names(query.get("wrt", ""))
    if not wrt:
        raise RequestError("no variable: give wrt=x (or wrt=W,b)")
    order = query.get("order", "1")
    if order not in ("1", "2"):
        raise RequestError("order must be 1 or 2")
    if op == "forms":
        of = query.get("of", "grad")
        if of not in OF:
            raise RequestError(f"of must be one of {', '.join(OF)}")
        return _forms(of, text, wrt, declarations, int(order))
    check = query.get("check", "") in ("1", "true", "yes", "on")
    return command_document(op, text, wrt, declarations, check=check, order=int(order))


def error_record(err: BaseException) -> dict:
    return {"error": str(err), "column": getattr(err, "column", None), "line": getattr(err, "line", None)}


def _limit_memory(extra: int) -> None:
    try:
        import resource

        with open("/proc/self/statm") as f:
            held = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (held + extra, held + extra))
        cpu = int(TIME_LIMIT) + 5  # a backstop: the server kills the worker at TIME_LIMIT
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    except (ImportError, OSError, ValueError):  # not Linux: the time limit still holds
        pass


MEMORY_ERROR = {"error": "the computation needs more memory than the server allows", "column": None, "line": None}


def _work(conn, query: dict, memory: int) -> None:
    _limit_memory(memory)
    from .guard import recursion_room

    try:
        with recursion_room():
            out = (200, answer(query))
    except MatcalcError as err:
        out = (400, MEMORY_ERROR if isinstance(err.__cause__, MemoryError) else error_record(err))
    except MemoryError:
        out = (400, MEMORY_ERROR)
    except BaseException as err:  # noqa: BLE001 - reported, never raised into the server
        out = (500, {"error": f"internal error ({type(err).__name__})", "column": None, "line": None})
    try:
        conn.send(out)
    except MemoryError:
        conn.send((400, {"error": "the answer needs more memory than the server allows", "column": None, "line": None}))
    conn.close()


_context = None
_context_lock = threading.Lock()


def _mp():
    """Workers are forked from a single-threaded process that has imported matcalc and warmed it up
    (``matcalc.warm``): a fork starts in milliseconds with the parser built and the tables filled."""
    global _context
    with _context_lock:
        if _context is None:
            methods = multiprocessing.get_all_start_methods()
            if "forkserver" in methods:
                os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
                os.environ.setdefault("OMP_NUM_THREADS", "1")
                _context = multiprocessing.get_context("forkserver")
                _context.set_forkserver_preload(["matcalc.serve", "matcalc.warm"])
                from multiprocessing import forkserver

                forkserver.ensure_running()  # now, so that the first request does not wait for it
            else:
                _context = multiprocessing.get_context("spawn")
        return _context


def compute(query: dict, time_limit: float | None = None, memory: int | None = None) -> tuple[int, dict]:
    """Run ``answer(query)`` in a worker process: (HTTP status, JSON object)."""
    time_limit = TIME_LIMIT if time_limit is None else time_limit
    ctx = _mp()
    receive, send = ctx.Pipe(duplex=False)
    worker = ctx.Process(target=_work, args=(send, query, MEMORY_LIMIT if memory is None else memory), daemon=True)
    worker.start()
    send.close()
    try:
        if receive.poll(time_limit):
            try:
                return receive.recv()
            except EOFError:  # the worker died before it answered (killed by a limit)
                return 400, {"error": "the computation exceeded the server's limits", "column": None, "line": None}
        return 400, {"error": f"the computation took longer than {time_limit:g} s, the server's limit",
                     "column": None, "line": None}
    finally:
        receive.close()
        if worker.is_alive():
            worker.kill()
        worker.join(5)


# -- the server ---------------------------------------------------------------------------------------


def static_files(root: Path = WEB) -> dict[str, Path]:
    """URL path -> file, for every file of the page: nothing else is ever served."""
    files = {"/" + p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()}
    files["/"] = root / "index.html"
    return files


class Handler(BaseHTTPRequestHandler):
    server_version = "matcalc"
    sys_version = ""
    files: dict[str, Path] = {}
    slots = threading.BoundedSemaphore(WORKERS)
    quiet = False
    time_limit = TIME_LIMIT
    memory = MEMORY_LIMIT
    loopback = True

    def log_message(self, format, *args):  # noqa: A002 - the signature of the base class
        if not self.quiet:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

    def end_headers(self):
        for name, value in HEADERS.items():
            self.send_header(name, value)
        super().end_headers()

    def _send(self, status: int, body: bytes, content_type: str, cache: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=3600" if cache else "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: dict) -> None:
        self._send(status, json.dumps(obj, indent=2).encode(), "application/json; charset=utf-8")

    def do_HEAD(self):  # noqa: N802 - the name http.server calls
        self.do_GET()

    def _foreign_host(self) -> bool:
        """On loopback, a Host header naming another machine: a page elsewhere reaching in (DNS rebinding)."""
        if not self.loopback:
            return False
        host = (self.headers.get("Host") or "").strip().lower()
        name = host[1:].split("]")[0] if host.startswith("[") else host.rsplit(":", 1)[0] if ":" in host else host
        return name not in LOOPBACK

    def do_GET(self):  # noqa: N802 - the name http.server calls
        if self._foreign_host():
            return self._send(403, b"this server answers only to 127.0.0.1 and localhost\n", "text/plain; charset=utf-8")
        url = urlsplit(self.path)
        if url.path == "/api":
            return self._api(url.query)
        path = self.files.get(url.path)
        if path is None:
            return self._send(404, b"not found\n", "text/plain; charset=utf-8")
        body = path.read_bytes()
        kind = TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        self._send(200, body, kind, cache="/katex/" in url.path)

    def _api(self, query: str) -> None:
        try:
            params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True, max_num_fields=20).items()}
        except ValueError:
            return self._json(400, error_record(RequestError("too many parameters")))
        unknown = sorted(set(params) - {"op", "expr", "wrt", "let", "check", "order", "of"})
        if unknown:
            return self._json(400, error_record(RequestError(f"unknown parameter {unknown[0][:40]!r}")))
        if len(params.get("expr", "")) > MAX_EXPRESSION:  # refused before any worker starts
            return self._json(400, error_record(RequestError(f"the expression is longer than {MAX_EXPRESSION} characters")))
        if not self.slots.acquire(timeout=QUEUE_WAIT):
            return self._json(503, error_record(UsageError("the server is busy: try again")))
        try:
            status, obj = compute(params, self.time_limit, self.memory)
        finally:
            self.slots.release()
        self._json(status, obj)

    def do_POST(self):  # noqa: N802
        self._send(405, b"only GET\n", "text/plain; charset=utf-8")


def make_server(host: str = "127.0.0.1", port: int = 0, quiet: bool = False, time_limit: float = TIME_LIMIT,
                memory: int = MEMORY_LIMIT, workers: int = WORKERS) -> ThreadingHTTPServer:
    """A server for the page and the endpoint (not yet serving: call serve_forever)."""
    handler = type("MatcalcHandler", (Handler,), {"files": static_files(), "quiet": quiet, "time_limit": time_limit,
                                                    "memory": memory, "slots": threading.BoundedSemaphore(workers),
                                                    "loopback": host in LOOPBACK})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    _mp()
    return server


def url_of(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}/"


def serve(host: str = "127.0.0.1", port: int = 0, open_browser: bool = False) -> int:
    try:
        server = make_server(host, port)
    except OSError as err:
        raise UsageError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    url = url_of(server)
    print(f"serving on {url}", flush=True)
    if host not in LOOPBACK:
        print(f"note: listening on {host}: anyone who can reach this address can use the server", file=sys.stderr)
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
