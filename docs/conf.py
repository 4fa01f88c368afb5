"""Sphinx configuration (numpydoc API reference; the gallery comes with the docs issue)."""

project = "skflows"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.autosummary", "numpydoc"]
autosummary_generate = True
numpydoc_show_class_members = False
html_theme = "alabaster"
