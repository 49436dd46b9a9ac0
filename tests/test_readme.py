"""README.md shows real outputs: every ``$ matcalc ...`` line of its examples is run and its
output compared with the lines that follow it (a ``check:`` line only up to its verdict, as
its figures depend on the machine's rounding)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from matcalc.cli import main

README = Path(__file__).resolve().parent.parent / "README.md"


def examples() -> list[tuple[str, list[str]]]:
    """(command, expected output lines) for each ``$ matcalc`` line in a fenced block."""
    out = []
    # fences paired in order, each from its opening line (```, ```json, ...) to its closing one
    for language, block in re.findall(r"^```(\w*)\n(.*?)^```$", README.read_text(), flags=re.S | re.M):
        if language:
            continue
        command = None
        for line in block.splitlines():
            if line.startswith("$ "):
                command = line[2:]
                out.append((command, []))
            elif command is not None:
                out[-1][1].append(line)
    # every command but the server, which runs until it is stopped (tests/test_serve.py runs it)
    return [(c, lines) for c, lines in out if c.startswith("matcalc ") and not c.startswith("matcalc serve")]


def verdict(line: str) -> str:
    return line.split(":", 2)[1].strip() if line.startswith("check:") else line


def test_the_readme_has_examples():
    assert len(examples()) >= 20


@pytest.mark.parametrize("command, expected", examples(), ids=[c for c, _ in examples()])
def test_readme_example(command, expected, capsys):
    status = main(shlex.split(command)[1:])
    printed = capsys.readouterr().out.rstrip("\n").splitlines()
    assert status == 0
    assert [verdict(line) for line in printed] == [verdict(line) for line in expected]


def section_code(title: str) -> str:
    """The Python block of README's section ``title``: the examples a section shows as code."""
    text = README.read_text()
    start = text.index(f"\n## {title}")
    section = text[start:text.index("\n## ", start + 1)]
    return "\n".join(re.findall(r"```python\n(.*?)```", section, flags=re.S))


@pytest.mark.parametrize("title", ["SciPy: `matcalc.objective`", "SymPy: `matcalc.from_sympy` and `to_sympy`"])
def test_readme_python_section_runs(title):
    if title.startswith("SciPy"):
        pytest.importorskip("scipy", reason="scipy is not installed (pip install 'matcalc[scipy]')")
    code = section_code(title)
    assert "assert" in code  # each states what it shows
    exec(compile(code, f"README.md, {title}", "exec"), {})  # noqa: S102 - the README's own examples
