"""Files shipped beside the code: the grammar and the templates.

An installed package carries them inside ``matcalc/`` (see pyproject.toml); a source
checkout keeps them at the top of the tree.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def resource_dir(folder: str) -> Path:
    packaged = resources.files("matcalc") / folder
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / folder


def resource_text(folder: str, name: str) -> str:
    return (resource_dir(folder) / name).read_text()
