"""Evaluation: the downstream protocol (:func:`label_efficiency`), the studies
(:func:`downstream_study`, :func:`cross_survey_study`), the comparison rule, photo-z metrics
(:mod:`~sklearn_ssl.evaluation.metrics`) and catalogue features
(:mod:`~sklearn_ssl.evaluation.features`).

``_protocol`` holds the protocol and :class:`SimilaritySearch`; ``_downstream`` and
``_cross_survey`` (with ``_survey_pair``) the studies; ``_comparison`` the paired rule;
``_evaluate`` the ``sklearn-ssl evaluate`` workflow.
"""

from ._comparison import MIN_REPEATS, budget_findings, comparison_sentence, format_mean_se, paired_comparison
from ._cross_survey import (
    CROSS_SURVEY_CONDITIONS, CROSS_SURVEY_QUICK, cross_survey_augmentations, cross_survey_findings, cross_survey_study,
    make_survey_pair, summarize_cross_survey,
)
from ._downstream import downstream_study, run_downstream_study
from ._evaluate import evaluate_embeddings, infer_task
from ._protocol import SimilaritySearch, asinh_flatten, held_out_split, label_efficiency, summarize_label_efficiency
from .features import GalaxyFeatures

__all__ = ["label_efficiency", "summarize_label_efficiency", "held_out_split", "asinh_flatten", "evaluate_embeddings",
           "infer_task", "downstream_study", "run_downstream_study", "SimilaritySearch", "MIN_REPEATS",
           "paired_comparison", "comparison_sentence", "format_mean_se", "budget_findings", "cross_survey_study",
           "summarize_cross_survey", "cross_survey_findings", "make_survey_pair", "cross_survey_augmentations",
           "CROSS_SURVEY_CONDITIONS", "CROSS_SURVEY_QUICK", "GalaxyFeatures"]
