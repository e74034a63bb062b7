"""Smaller settings for the examples the docs gallery runs (sphinx-gallery's ``reset_argv``).

The examples' own defaults are sized for a reader running them (minutes each on a 2-core CPU);
the gallery runs every ``plot_`` example at each docs build, so it passes these arguments
instead: the same code and figures on fewer galaxies and epochs.
"""

import os

GALLERY_ARGV = {
    "plot_cross_modal.py": ["--n-samples", "500", "--epochs", "10", "--test-size", "100"],
    "plot_rare_objects.py": ["--n-samples", "1000", "--epochs", "5"],
    "plot_semi_supervised.py": ["--n-samples", "400", "--epochs", "5"],
    "plot_photoz_finetune.py": ["--n-samples", "300", "--min-steps", "100"],
}


def gallery_argv(gallery_conf, script_vars):
    """The command-line arguments of one example in the gallery (none: its defaults)."""
    return list(GALLERY_ARGV.get(os.path.basename(script_vars["src_file"]), []))
