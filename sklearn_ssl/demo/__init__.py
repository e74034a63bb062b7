"""The demo behind ``sklearn-ssl demo``: a synthetic survey, pretraining, the studies and a report.

``_run`` runs it, ``_methods`` the extra pretraining rows, ``_figures`` and ``_report`` write the report.
"""

from ._run import DEMO_SCOPE, DEMO_SETTINGS, DEMO_WALL_TIME_S, run_demo

__all__ = ["DEMO_SCOPE", "DEMO_SETTINGS", "DEMO_WALL_TIME_S", "run_demo"]
