"""Entry points give deep expressions the recursion they need, for the call alone."""

import subprocess
import sys

import matcalc


def test_importing_matcalc_leaves_the_recursion_limit_alone():
    code = "import sys; before = sys.getrecursionlimit(); import matcalc; print(before == sys.getrecursionlimit())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "True", out.stderr


def test_a_deep_expression_is_derived_and_the_limit_put_back():
    before = sys.getrecursionlimit()
    text = "sum(" + "tanh(" * 450 + "x" + ")" * 450 + ")"
    r = matcalc.gradient(text, wrt="x")
    assert len(str(r)) > 450
    assert sys.getrecursionlimit() == before
