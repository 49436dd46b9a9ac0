"""Names a person writes without declaring them: Greek letters, and the functions a misspelt
call most likely meant.

A Greek letter spelt out (``alpha``, ``lambda``, ``Sigma``) is one name, never a product of
its letters; lowercase ones are usually scalars and capitals matrices, as with other names.
The stem is what the name begins with (``alpha_1`` and ``theta2`` are Greek too).
"""

from __future__ import annotations

import difflib
import os
import re

# name -> LaTeX; every lowercase letter and the capitals that LaTeX draws differently from Latin ones
GREEK = {name: "\\" + name for name in (
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu",
    "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi", "omega", "Gamma", "Delta",
    "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi", "Omega")} | {"eps": r"\varepsilon"}

_STEM = re.compile(r"[A-Za-z]+")


def greek_stem(name: str) -> str | None:
    """The Greek letter a name is made of (``alpha_1`` -> ``alpha``), or None."""
    stem = _STEM.match(name)
    return stem.group(0) if stem and stem.group(0) in GREEK else None


def closest(name: str, known) -> list[str]:
    """The known names a misspelt one most likely meant: the same name in another case or
    without underscores (``ReLU``, ``log_softmax``), else those difflib finds alike, those
    sharing the longest beginning first (``sigma``: sigmoid before sign)."""
    known = sorted(known)
    plain = name.lower().replace("_", "")
    same = [k for k in known if k.lower().replace("_", "") == plain]
    if same:
        return same
    alike = difflib.get_close_matches(name.lower(), known, n=3, cutoff=0.6)
    return sorted(alike, key=lambda k: -len(os.path.commonprefix([k, name.lower()])))


def alternatives(names: list[str]) -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
