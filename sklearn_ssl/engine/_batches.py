"""Training batches sliced on the device, or streamed from the host or disk one batch ahead."""

from __future__ import annotations

import torch

from ._disk import DiskRows, read_ahead


class DeviceBatches:
    """Iterate over ``(X[idx], y[idx])`` batches on ``device``, optionally shuffled by a generator.

    ``X`` either lives on ``device`` already (the fast path: batches are index
    operations on the device) or on the host, in which case each batch is gathered on
    the host, staged in pinned memory when the target is a GPU and copied without
    blocking, one batch ahead of the one being trained on. A disk-backed collection
    (:class:`~sklearn_ssl.engine._disk.DiskRows`: a memmap or an HDF5 dataset) is read in a
    background thread two batches ahead, so that disk reads overlap with training.
    ``y`` (optional, e.g. partial labels) is small and always kept on ``device``.

    In training, a final batch of a single sample is dropped (batch norm and
    contrastive losses need at least two); it changes with every epoch's shuffle.
    ``drop_last=True`` drops any final smaller batch, as contrastive pretraining does
    (SimCLR, MoCo): a contrastive loss depends on the batch size (its chance level is
    ``ln(2B - 1)``), so a small last batch would mix a different quantity into the epoch's
    loss; with shuffling the left-out samples change from epoch to epoch.
    With ``world > 1`` (distributed training) each process takes its own equal share
    of the epoch's permutation, so all processes run the same number of equal batches.
    With ``with_index=True`` each batch's images come as ``(X[idx], idx)``, the rows'
    indices in ``X`` as a tensor on ``device`` (MoCo's queue remembers whose keys it holds).
    """

    def __init__(
        self, X: torch.Tensor, batch_size: int, shuffle: bool, generator: torch.Generator | None,
        device: torch.device | str | None = None, rank: int = 0, world: int = 1, stream: bool | None = None,
        y: torch.Tensor | None = None, drop_last: bool = False, with_index: bool = False,
    ):
        self.X, self.batch_size, self.shuffle, self.generator = X, batch_size, shuffle, generator
        self.drop_last, self.with_index = drop_last, with_index
        self.device = torch.device(device) if device is not None else X.device
        self.rank, self.world = rank, world
        self.stream = (isinstance(X, DiskRows) or X.device != self.device) if stream is None else stream
        self.y = None if y is None else y.to(self.device)

    def _n(self) -> int:
        return len(self.X) // self.world

    def __len__(self) -> int:
        full, rest = divmod(self._n(), self.batch_size)
        if self.drop_last and full:
            return full
        return full + (rest > 1 or (rest == 1 and not self.shuffle))

    def _indices(self) -> list:
        """One index (a slice, or a tensor of rows on the host) per batch."""
        n = self._n()
        slices = [slice(i * self.batch_size, min(n, (i + 1) * self.batch_size)) for i in range(len(self))]
        if not self.shuffle and self.world == 1:
            return slices
        order = torch.randperm(len(self.X), generator=self.generator) if self.shuffle else torch.arange(len(self.X))
        order = order[self.rank * n:(self.rank + 1) * n]
        return [order[sl] for sl in slices]

    def _batch(self, idx, x: torch.Tensor) -> tuple:
        """``(x, y)`` of one batch; ``x`` becomes ``(x, rows)`` with ``with_index``. Every path goes through here."""
        if self.with_index:
            rows = torch.arange(idx.start, idx.stop) if isinstance(idx, slice) else idx
            x = x, rows.to(self.device)
        return x, self._y(idx)

    def _rows(self, idx) -> torch.Tensor:
        if not self.stream:
            return self.X[idx if isinstance(idx, slice) else idx.to(self.device)]
        return self._to_device(self._read(idx)[1])

    def _read(self, idx) -> tuple:
        """The batch's rows gathered on the host (pinned when the target is a GPU)."""
        batch = self.X[idx] if isinstance(idx, slice) else self.X.index_select(0, idx)
        return idx, batch.pin_memory() if self.device.type == "cuda" else batch

    def _to_device(self, batch: torch.Tensor) -> torch.Tensor:
        return batch.to(self.device, non_blocking=self.device.type == "cuda")

    def _y(self, idx) -> torch.Tensor | None:
        if self.y is None:
            return None
        return self.y[idx if isinstance(idx, slice) else idx.to(self.device)]

    def __iter__(self):
        indices = self._indices()
        if not self.stream:
            for idx in indices:
                yield self._batch(idx, self._rows(idx))
            return
        if isinstance(self.X, DiskRows):  # read from disk in a background thread, two batches ahead
            for idx, batch in read_ahead(self._read, indices):
                yield self._batch(idx, self._to_device(batch))
            return
        pending = None
        for idx in indices:  # stage batch i+1 while batch i is being used
            staged = self._batch(idx, self._rows(idx))
            if pending is not None:
                yield pending
            pending = staged
        if pending is not None:
            yield pending
