"""Fuzzing the public entry points with text that is mostly not an expression.

Whatever the input, ``matcalc.parse`` and ``matcalc.gradient(text, wrt="x")`` may only
raise ``matcalc.MatcalcError`` (README: "no other exception escapes the API for any input
text"), an error reported as an "internal error" is a defect all the same, and every call
finishes quickly.  The calls run in a child process, so that an input that makes the
engine compute for minutes is reported instead of stalling the test run.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import traceback

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import jacobian_cases, scalar_cases

EXAMPLES = {"ci": 300, "nightly": 5000}[os.environ.get("MATCALC_HYPOTHESIS_PROFILE", "ci")]
FUZZ = settings(max_examples=EXAMPLES, deadline=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
TIME_LIMIT = 2.0  # seconds for parse, and for gradient, of one input
KILL_AFTER = 2 * TIME_LIMIT + 1  # seconds without an answer before the child is replaced

FUNCTIONS = ["exp", "log", "sqrt", "sin", "cos", "tan", "sinh", "cosh", "tanh", "sigmoid", "softplus", "relu",
             "swish", "mish", "softsign", "abs", "sign", "step", "det", "logdet", "tr", "trace", "inv", "sum",
             "diag", "softmax", "logsumexp", "norm", "kron", "leaky_relu", "elu", "selu", "gelu", "gelu_tanh",
             "logsigmoid", "sinc", "hardtanh", "silu", "erf", "normcdf", "normpdf", "dselu", "dsinc", "dgelu_tanh"]
TOKENS = (["x", "y", "A", "B", "S", "W", "X", "I", "ones", "theta", "mu", "lambda", "alpha", "eps", "Sigma", "2N", "b_2", "W1", "T", "K", "d", "e", "E",
           "0", "1", "2", "3", "64", "0.5", ".5", "1e3", "1e-3", "1e400", "300",
           "(", ")", "{", "}", "||", "|", "||_F", "||_2", "||_1", "_F", "_", "^", "^T", "^-1", "^-T", "'", ".*", "./", ".^",
           "+", "-", "*", "/", ",", ".", " ", "  ", "\t", "\n", "\r\n", ";", "=", "H =", "G =", "λ", "∑", "é", "\u200b", "\x00", "𝑥", "\ufeff"]
          + FUNCTIONS + [f + "(" for f in FUNCTIONS])
NUMBER_TOKENS = ["0", "1", "2", "9", "64", "300", "0.5", "1e300", "x", "^", "^-", "(", ")", "+", "-", "*", "/", ".^"]


# ------------------------------------------------------------------ running one input in a child


def _serve(connection):
    import matcalc

    while True:
        text, declare = connection.recv()
        outcome = []
        for call in ("parse", "gradient"):
            start = time.perf_counter()
            try:
                if call == "parse":
                    matcalc.parse(text, declare)
                else:
                    r = matcalc.gradient(text, wrt="x", declare=declare)
                    str(r)
                    r.latex()
                result = ("ok", "", "")
            except matcalc.MatcalcError as err:
                result = ("MatcalcError", type(err).__name__, str(err))
            except BaseException as err:  # noqa: B036 - what escapes is the finding
                result = ("other", type(err).__name__, traceback.format_exc())
            outcome.append((call, *result, time.perf_counter() - start))
        connection.send(outcome)


class Child:
    """A process that runs the calls; it is replaced when an input exceeds the time limit."""

    def __init__(self):
        self.process = None

    def start(self):
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        self.connection, theirs = context.Pipe()
        self.process = context.Process(target=_serve, args=(theirs,), daemon=True)
        self.process.start()

    def run(self, text, declare=None):
        if self.process is None or not self.process.is_alive():
            self.start()
        self.connection.send((text, declare))
        if not self.connection.poll(KILL_AFTER):
            self.stop()
            return None
        return self.connection.recv()

    def stop(self):
        if self.process is not None:
            self.process.kill()
            self.process.join()
            self.process = None


@pytest.fixture(scope="module")
def child():
    c = Child()
    yield c
    c.stop()


def check(child, text, declare=None):
    outcome = child.run(text, declare)
    assert outcome is not None, f"no answer within {KILL_AFTER:.0f} s for {text!r} (declare={declare!r})"
    for call, status, kind, message, elapsed in outcome:
        assert status != "other", f"{call}({text!r}) raised {kind}, not a MatcalcError:\n{message}"
        assert not message.startswith("internal error"), f"{call}({text!r}): {message}"
        assert elapsed <= TIME_LIMIT, f"{call}({text!r}) took {elapsed:.1f} s"


# ------------------------------------------------------------------ inputs


def _mutations(text: str):
    """Random edits of a well-typed expression: deletions, insertions, swaps, truncations."""
    edit = st.tuples(st.sampled_from(["delete", "insert", "swap", "cut"]), st.integers(0, max(0, len(text))),
                     st.sampled_from(TOKENS))

    def apply(edits):
        out = text
        for op, i, token in edits:
            i = min(i, len(out))
            if op == "delete":
                out = out[:i] + out[i + 1:]
            elif op == "insert":
                out = out[:i] + token + out[i:]
            elif op == "swap" and i + 1 < len(out):
                out = out[:i] + out[i + 1] + out[i] + out[i + 2:]
            elif op == "cut":
                out = out[:i]
        return out

    return st.lists(edit, min_size=1, max_size=4).map(apply)


token_sequences = st.lists(st.sampled_from(TOKENS), max_size=30).flatmap(
    lambda tokens: st.sampled_from(["", " "]).map(lambda sep: sep.join(tokens)))
number_towers = st.one_of(
    st.lists(st.sampled_from(NUMBER_TOKENS), min_size=1, max_size=16).map("".join),
    # powers of powers: 2^64^64 is (2^64)^64, folded to an exact number by the parser
    st.lists(st.sampled_from(["2", "3", "9", "10", "64", "0.5", "x", "(x^T x)"]), min_size=1, max_size=8).map("^".join))
# texts of several statements: definitions of a few names (some that may not be defined) over
# random token sequences, separated by ';' or line breaks, the last statement anything
definitions = st.tuples(st.sampled_from(["H", "G", "FC", "h2", "x", "A", "I", "ones", "exp", "T"]), token_sequences)
programs = st.tuples(st.lists(definitions, max_size=4), token_sequences,
                     st.lists(st.sampled_from([";", "\n", "; ", "\n\n", ";\n"]), min_size=5, max_size=5)).map(
    lambda p: "".join(f"{name} = {body}{sep}" for (name, body), sep in zip(p[0], p[2], strict=False)) + p[1])
mutated = st.one_of(scalar_cases(max_leaves=6), jacobian_cases(max_leaves=4)).flatmap(lambda c: _mutations(c.text))


@FUZZ
@given(data=st.binary(max_size=120))
def test_random_bytes_as_text(child, data):
    check(child, data.decode("latin-1"))
    check(child, data.decode("utf-8", errors="surrogateescape"))


@FUZZ
@given(data=st.binary(max_size=120))
def test_random_bytes_objects(child, data):
    check(child, data)  # not a string at all


@FUZZ
@given(text=st.text(max_size=60))
def test_random_unicode(child, text):
    check(child, text)


@FUZZ
@given(text=token_sequences)
def test_random_token_sequences(child, text):
    check(child, text)


@FUZZ
@given(text=number_towers)
def test_arithmetic_on_numbers(child, text):
    check(child, text)


@FUZZ
@given(text=mutated)
def test_mutated_expressions(child, text):
    check(child, text)


@FUZZ
@given(text=programs)
def test_random_programs(child, text):
    check(child, text)


@FUZZ
@given(text=token_sequences,
       declare=st.dictionaries(st.one_of(st.sampled_from(["x", "A", "theta", "mu", "I", "ones", "exp", "x1", "b_2"]),
                                         st.text(max_size=4)),
                               st.one_of(st.sampled_from(["scalar", "vector", "matrix", "symmetric"]), st.text(max_size=6),
                                         st.integers(), st.none()), max_size=3))
def test_random_declarations(child, text, declare):
    check(child, text or "x", declare)
