"""Networks and losses: multi-band encoders (:mod:`sklearn_ssl.nn.encoders`), the contrastive
and negative-free losses (:mod:`sklearn_ssl.nn.losses`), and readers of published checkpoints."""

from . import encoders, losses
from ._published import is_torch_file, load_into_net, read_published

__all__ = ["encoders", "losses", "is_torch_file", "load_into_net", "read_published"]
