"""Sphinx configuration of the skflows documentation.

Build (what CI runs; warnings are errors, the gallery runs every example on small settings)::

    SKFLOWS_EXAMPLE_QUICK=1 python -m sphinx -W -b html docs docs/_build/html

Pieces: numpydoc renders the docstrings, autosummary writes one page per public class and
function (``docs/generated/``), sphinx-gallery executes every ``examples/plot_*.py`` and
turns it into a page with its printed output and figures (``docs/auto_examples/``).
A check at the start of the build warns (so ``-W`` fails) when a public class or function
of the package is missing from ``api.rst``.
"""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import re
import sys
from pathlib import Path

from sphinx.util import logging

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import skflows  # noqa: E402

# -- project ----------------------------------------------------------------------------
project = "skflows"
author = "the skflows developers"
copyright = "the skflows developers, BSD-3-Clause"  # noqa: A001
version = release = skflows.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
default_role = "literal"

# -- autodoc / autosummary / numpydoc ---------------------------------------------------
autosummary_generate = True
autodoc_default_options = {"members": True, "member-order": "groupwise"}
autodoc_typehints = "none"  # the numpydoc sections carry the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True

# -- sphinx-gallery -----------------------------------------------------------------------
# Every examples/plot_*.py is executed (filename_pattern); an example that raises stops
# the build (abort_on_example_error), so nothing is skipped silently. CI sets
# SKFLOWS_EXAMPLE_QUICK=1, which every example honours by shrinking data and epochs.
sphinx_gallery_conf = {
    "examples_dirs": [str(HERE.parent / "examples")],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_[^/]*\.py$",
    "ignore_pattern": r"__init__\.py|/_",
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "plot_gallery": "True",
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
    "within_subsection_order": "FileNameSortKey",
    "doc_module": ("skflows",),
    "backreferences_dir": "generated/backreferences",
    "reference_url": {"skflows": None},
    "download_all_examples": False,
    "remove_config_comments": True,
    "min_reported_time": 1,
}

# -- HTML ---------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skflows {version}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_show_sourcelink = False


# -- every public class and function must be in api.rst -----------------------------------
def _public_objects() -> dict[int, str]:
    """Classes and functions listed in ``__all__`` of every public skflows module."""
    modules = [skflows]
    for info in pkgutil.walk_packages(skflows.__path__, "skflows."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            modules.append(importlib.import_module(info.name))
    found = {}
    for module in modules:
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name, None)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                found.setdefault(id(obj), f"{module.__name__}.{name}")
    return found


_DIRECTIVE = re.compile(r"^\.\. (autosummary|autoclass|autofunction|currentmodule)::\s*(\S*)")


def _documented_names(text: str) -> list[str]:
    """Fully qualified names listed by autosummary/autoclass/autofunction in ``text``."""
    names, current, in_summary = [], None, False
    for line in text.splitlines():
        match = _DIRECTIVE.match(line.strip()) if not line.startswith(" ") else None
        if match:
            kind, arg = match.groups()
            in_summary = kind == "autosummary"
            if kind == "currentmodule":
                current = arg
            elif kind in ("autoclass", "autofunction"):
                names.append(arg if current is None or "." in arg else f"{current}.{arg}")
            continue
        stripped = line.strip()
        if not in_summary or not stripped:
            continue
        if not line.startswith(" "):
            in_summary = False
        elif not stripped.startswith(":"):
            entry = stripped.lstrip("~")
            names.append(entry if current is None else f"{current}.{entry}")
    return names


def _resolve(name: str):
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(name)


def check_api_reference(app):
    """Warn for each public class/function of skflows missing from ``api.rst``."""
    logger = logging.getLogger("skflows.docs")
    documented = set()
    for name in _documented_names((HERE / "api.rst").read_text()):
        try:
            documented.add(id(_resolve(name)))
        except (ImportError, AttributeError):
            logger.warning(f"api.rst lists {name}, which cannot be imported")
    missing = sorted(name for key, name in _public_objects().items() if key not in documented)
    for name in missing:
        logger.warning(f"public object {name} (in its module's __all__) is missing from "
                       "docs/api.rst")


_TYPED_SECTIONS = {"Parameters", "Other Parameters", "Returns", "Yields", "Receives",
                   "Raises", "Warns", "Attributes"}
_TRAILING_UNDERSCORE = re.compile(r"(?<![`\w])([A-Za-z]\w*_)(?![`\w])")
_BARE_STAR = re.compile(r"(?<![\\*])\*(?=[\w.(])")


def _quote_type(text: str) -> str:
    """reST-safe type text: ``n_features_in_`` in backquotes, ``*batch`` escaped."""
    return _BARE_STAR.sub(r"\\*", _TRAILING_UNDERSCORE.sub(r"`\1`", text))


def quote_types(app, what, name, obj, options, lines):
    """Make the type part of numpydoc ``name : type`` lines safe for reST.

    Docstrings write shapes as they read best, ``ndarray of shape (n_features_in_,)`` or
    ``Tensor of shape (*batch, n, d)``, but reST takes a word ending in ``_`` for a link
    target and a ``*`` for the start of emphasis. This runs before numpydoc (priority
    400 < 500) and only touches the header lines of typed sections (Parameters,
    Returns, Attributes, ...); descriptions are left alone.
    """
    section, indent = None, None
    for i, line in enumerate(lines):
        stripped = line.strip()
        if i + 1 < len(lines) and stripped and set(lines[i + 1].strip()) == {"-"}:
            section, indent = stripped, None
            continue
        if not stripped or set(stripped) == {"-"} or section not in _TYPED_SECTIONS:
            continue
        current = len(line) - len(line.lstrip())
        if indent is None:
            indent = current
        if current != indent:
            continue
        if " : " in line:
            head, _, kind = line.partition(" : ")
            lines[i] = f"{head} : {_quote_type(kind)}"
        elif section in ("Returns", "Yields", "Receives"):
            lines[i] = line[:current] + _quote_type(stripped)


def skip_member(app, what, name, obj, skip, options):
    """Leave out scikit-learn's plumbing inherited by every estimator
    (``set_*_request``, ``get_metadata_routing``, ``set_output``): their docstrings
    point into scikit-learn's own documentation, where they are documented."""
    if re.fullmatch(r"set_\w+_request", name) or name in ("get_metadata_routing",
                                                           "set_output"):
        return True
    return None


def setup(app):
    app.connect("builder-inited", check_api_reference)
    app.connect("autodoc-skip-member", skip_member)
    app.connect("autodoc-process-docstring", quote_types, priority=400)


# Quick-mode reminder for people building locally without the environment variable.
if os.environ.get("SKFLOWS_EXAMPLE_QUICK", "") in ("", "0"):
    print("Note: SKFLOWS_EXAMPLE_QUICK is not set; the gallery runs the full-size examples "
          "(many minutes). CI sets SKFLOWS_EXAMPLE_QUICK=1.")
