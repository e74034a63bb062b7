"""Self-supervised pretraining methods, one module each, and their registry.

Adding a method means writing a :class:`PretrainingMethod` subclass in its own module and
registering it in :data:`METHODS`; the embedder's ``method`` parameter accepts every key.
"""

from ._base import PredictionHead, PretrainingMethod, ProjectionHead, TrainingStep
from .moco import KEY_GROUP, MoCo
from .negative_free import BYOL, SimSiam
from .simclr import SimCLR

#: Method name -> class.
METHODS: dict[str, type[PretrainingMethod]] = {"simclr": SimCLR, "moco": MoCo, "byol": BYOL, "simsiam": SimSiam}

__all__ = ["METHODS", "KEY_GROUP", "PretrainingMethod", "PredictionHead", "ProjectionHead", "TrainingStep",
           "SimCLR", "MoCo", "BYOL", "SimSiam"]
