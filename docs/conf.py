"""Sphinx configuration for sklearn-ssl (build: sphinx-build -W -b html docs docs/_build/html)."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # _gallery_settings

import sklearn_ssl  # noqa: E402

project = "sklearn-ssl"
author = "sklearn-ssl developers"
copyright = "2026, sklearn-ssl developers"
release = sklearn_ssl.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

# No network at build time (CI has none): intersphinx reads inventories written from the installed
# packages by docs/make_inventories.py, and links to each project's online documentation.
_INV = os.path.join(os.path.dirname(__file__), "_inventories")
intersphinx_mapping = {
    "numpy": ("https://numpy.org/doc/stable/", os.path.join(_INV, "numpy.inv")),
    "sklearn": ("https://scikit-learn.org/stable/", os.path.join(_INV, "sklearn.inv")),
    "torch": ("https://docs.pytorch.org/docs/stable/", os.path.join(_INV, "torch.inv")),
    "astropy": ("https://docs.astropy.org/en/stable/", os.path.join(_INV, "astropy.inv")),
}

# One page per public class and function (API page), written into docs/generated/ (not tracked);
# emptied first, since autosummary never removes the page of a name that moved or was removed.
autosummary_generate = True
import shutil  # noqa: E402

shutil.rmtree(os.path.join(os.path.dirname(os.path.abspath(__file__)), "generated"), ignore_errors=True)

# The examples gallery: examples/plot_*.py run at build time (small settings, a few minutes in all);
# ``-D plot_gallery=0`` builds the pages without running them (the test suite's fast build).
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # run every plot_ example except the two that regenerate the docs' own figures in docs/_static
    "filename_pattern": r"/plot_(?!augmentations|synthetic_survey)",
    "ignore_pattern": r"(accelerate_pretrain|published_model|real_label_efficiency)\.py",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "reset_argv": "_gallery_settings.gallery_argv",  # smaller settings than the examples' defaults
}
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "none"  # the numpydoc "Parameters" sections already give the types
autodoc_mock_imports = []
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

templates_path = []
exclude_patterns = ["_build", "_inventories"]
html_theme = "alabaster"
html_static_path = ["_static"] if os.path.isdir(os.path.join(os.path.dirname(__file__), "_static")) else []
html_theme_options = {"description": "Contrastive self-supervised learning for astronomical images",
                      "fixed_sidebar": True}
nitpicky = False

# Plain-text |dz| in docstrings and pages means an absolute value, not an RST substitution.
rst_prolog = r"""
.. |dz| replace:: \|dz\|
.. |dz - median(dz)| replace:: \|dz - median(dz)\|
"""


def _skip_member(app, what, name, obj, skip, options):
    # scikit-learn's metadata-routing setters (set_fit_request, ...) document sklearn's own glossary
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def _escape_trailing_underscores(app, what, name, obj, options, lines):
    # fitted-attribute names such as ``embedding_dim_)`` in a type spec would be RST link targets
    import re

    lines[:] = [re.sub(r"\b([A-Za-z]\w*[A-Za-z0-9])_(?=[),])", r"\1\\_", line) if "``" not in line else line
                for line in lines]


def setup(app):
    app.connect("autodoc-skip-member", _skip_member)
    app.connect("autodoc-process-docstring", _escape_trailing_underscores)
