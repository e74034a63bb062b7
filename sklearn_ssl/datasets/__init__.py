"""The built-in synthetic survey: :func:`make_galaxy_survey` and its physical constants.

The survey's face (sampling, noise, catalogue) is in ``_survey``; the galaxy model
(templates, K-corrections, rendering) in ``_galaxy_model``; lenses and spectra in ``_survey_extras``.
"""

from ._survey import (BAND_WAVELENGTHS, EXTINCTION_COEFFICIENTS, MORPHOLOGY_CLASSES, PIXEL_SCALES,
                      SPECTRUM_WAVELENGTHS, make_galaxy_survey)

__all__ = ["BAND_WAVELENGTHS", "EXTINCTION_COEFFICIENTS", "MORPHOLOGY_CLASSES", "PIXEL_SCALES",
           "SPECTRUM_WAVELENGTHS", "make_galaxy_survey"]
