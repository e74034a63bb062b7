"""The one place where sklearn-ssl imports private scikit-learn names.

scikit-learn's parameter constraints (``_parameter_constraints`` checked by
``BaseEstimator._validate_params``) are written with classes that scikit-learn does not
export publicly (``sklearn.utils._param_validation``); scikit-learn's own estimators and
many third-party ones use them the same way. Tested with scikit-learn 1.9.1 and skorch 1.4
(no private skorch name is needed). If a scikit-learn release moves or renames them, this
is the only import to change.
"""

from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

__all__ = ["HasMethods", "Interval", "StrOptions"]
