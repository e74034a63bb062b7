"""The training engine shared by every torch estimator.

- ``_estimator``: :class:`TorchEstimatorMixin`, the one fit routine (validate, choose the
  device, seed, build, place the data, train, clean up) and batched prediction;
- ``_training``: the skorch nets (pretraining, fine-tuning), precision, the loop;
- ``_batches`` and ``_disk``: batches on the device, streamed from memory or disk with their row indices;
- ``_normalizer``, ``_params``, ``_checkpoint``, ``_persistence``: per-band scaling, the shared
  training vocabulary, resumable checkpoints and versioned pickles;
- ``_methods``: the pretraining methods (SimCLR, MoCo, BYOL, SimSiam), one module each.

The estimators (:mod:`sklearn_ssl.estimators`) are built from these parts; other subpackages
may import them too. Nothing here is public API.
"""
