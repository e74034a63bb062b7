"""Evaluation: the downstream protocol (:func:`label_efficiency`), the studies
(:func:`downstream_study`, :func:`cross_survey_study`), the comparison rule, photo-z metrics
(:mod:`~sklearn_ssl.evaluation.metrics`) and catalogue features
(:mod:`~sklearn_ssl.evaluation.features`).

``_protocol`` holds the protocol (:class:`~sklearn_ssl.SimilaritySearch` is in :mod:`sklearn_ssl.discovery`); ``_downstream`` and
``_cross_survey`` (with ``_survey_pair``) the studies; ``_comparison`` the paired rule and
Holm's correction; ``_label_ratio`` the label ratio;
``_evaluate`` the ``sklearn-ssl evaluate`` workflow; ``_selection`` the label-selection
strategies of ``label_efficiency(selection=...)`` (:func:`select_labels`); ``_tuning`` the
inner search of each row (:func:`tuned`, :class:`BudgetCV`) and the test set's bootstrap
(:func:`bootstrap_scores`).
"""

from ._comparison import (
    ALPHA, MIN_REPEATS, budget_comparisons, budget_findings, comparison_sentence, comparison_table, family_findings,
    format_mean_se, holm, holm_adjust, paired_comparison,
)
from ._cross_survey import (
    AUGMENTATION_SETS, CROSS_SURVEY_CONDITIONS, CROSS_SURVEY_QUICK, cross_survey_augmentations, cross_survey_findings,
    cross_survey_study, generic_augmentations, make_survey_pair, summarize_cross_survey,
)
from ._downstream import downstream_study, run_downstream_study
from ._evaluate import evaluate_embeddings, infer_task
from ._label_ratio import best_rival, label_ratio, label_ratio_findings, label_ratio_sentences
from ._selection import SELECTION_STRATEGIES, select_labels
from ._protocol import asinh_flatten, held_out_split, label_efficiency, summarize_label_efficiency, with_seed
from ._tuning import BudgetCV, bootstrap_scores, n_candidates, tuned
from .features import GalaxyFeatures

__all__ = ["label_efficiency", "summarize_label_efficiency", "held_out_split", "asinh_flatten", "evaluate_embeddings",
           "infer_task", "downstream_study", "run_downstream_study", "MIN_REPEATS",
           "paired_comparison", "comparison_sentence", "format_mean_se", "budget_findings", "ALPHA", "budget_comparisons",
           "family_findings", "comparison_table", "holm", "holm_adjust", "label_ratio", "label_ratio_sentences",
           "label_ratio_findings", "best_rival", "cross_survey_study",
           "summarize_cross_survey", "cross_survey_findings", "make_survey_pair", "cross_survey_augmentations",
           "generic_augmentations", "AUGMENTATION_SETS", "CROSS_SURVEY_CONDITIONS", "CROSS_SURVEY_QUICK",
           "GalaxyFeatures", "select_labels", "SELECTION_STRATEGIES", "BudgetCV", "tuned", "n_candidates",
           "bootstrap_scores", "with_seed"]
