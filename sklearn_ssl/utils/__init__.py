"""Helpers every layer of the package may use: atomic writes, scikit-learn's parameter
constraints, progress display and Markdown tables. Nothing here imports torch models or
the rest of the package."""

from ._atomic import atomic_dir, atomic_path, atomic_paths, file_suffix
from ._markdown import markdown_table, markdown_to_html
from ._progress import EpochBar, Steps, WorkProgress, epoch_bar
from ._sklearn_private import HasMethods, Interval, StrOptions

__all__ = ["atomic_dir", "atomic_path", "atomic_paths", "file_suffix", "markdown_table", "markdown_to_html",
           "EpochBar", "Steps", "WorkProgress", "epoch_bar", "HasMethods", "Interval", "StrOptions"]
