"""`hvd.elastic.ElasticSampler`: a torch Sampler that splits a dataset over the ranks of an
elastic job and, after the job re-forms with another size, resumes the epoch with the samples
no rank has processed yet, split over the new ranks.

    sampler = hvd.elastic.ElasticSampler(dataset, shuffle=True, seed=0)
    loader = DataLoader(dataset, batch_size=bs, sampler=sampler)
    state = hvd.elastic.TorchState(model, optimizer, train_sampler=sampler, epoch=0, batch=0)
    ...
        for idx, (x, y) in enumerate(loader):
            ...
            state.train_sampler.record_batch(idx, bs)
            state.commit()

The split is Horovod's: the epoch's order is a permutation seeded by seed + epoch over the
indices not yet processed this epoch, padded by repetition to a multiple of the world size,
rank r taking every size-th index from r. `set_epoch(e)` starts epoch e afresh. TorchState
keeps the sampler's progress at commit(), restores it after a failure, and on sync() every
rank allgathers every rank's progress: the processed indices are their union, and (unlike
Horovod, which loses them) the committed batches of ranks that are gone are added too, read
from their share of the split they were on, so a failed rank's committed samples are not
trained twice. Then the rest is split over the ranks of the job now.
"""

import math

import torch

from .. import _runtime


def _world():
    """(size, rank) of the job now; (1, 0) before init()."""
    if not _runtime.is_initialized():
        return 1, 0
    return _runtime.size(), _runtime.rank()


class ElasticSampler(torch.utils.data.Sampler):
    def __init__(self, dataset, shuffle=True, seed=0):
        self.dataset = dataset
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        self.processed_indices = set()
        self.num_replicas, self.rank = 1, 0
        self.remaining_indices = []
        self.num_samples = 0
        self.total_size = 0
        self.indices = []
        self._base = frozenset()  # the processed indices the current split was made from
        self._batches = 0  # batches recorded on this split (the highest batch index + 1)
        self._batch_size = 0
        self.reset()

    def set_epoch(self, epoch):
        """Starts `epoch`: nothing processed yet, a new permutation."""
        self.epoch = epoch
        self.processed_indices = set()
        self.reset()

    def record_batch(self, batch_idx, batch_size):
        """Marks batch `batch_idx` (of `batch_size` samples) of this rank's current pass over
        the loader as processed."""
        self.record_indices(self.get_indices(batch_idx, batch_size))
        self._batches = max(self._batches, batch_idx + 1)
        self._batch_size = batch_size

    def record_indices(self, indices):
        self.processed_indices.update(indices)

    def get_indices(self, batch_idx, batch_size):
        """This rank's dataset indices of batch `batch_idx` in the current pass."""
        start = batch_idx * batch_size
        return self.indices[start:min(start + batch_size, len(self.indices))]

    def state_dict(self):
        return {"epoch": self.epoch, "processed_indices": set(self.processed_indices),
                "split": {"size": self.num_replicas, "rank": self.rank, "base": set(self._base),
                          "batches": self._batches, "batch_size": self._batch_size}}

    def load_state_dict(self, state_dict):
        """Back to a saved progress, on the split it was saved on (as Horovod's, without a
        "split" entry: split afresh over the ranks of the job now)."""
        self.epoch = state_dict["epoch"]
        self.processed_indices = set(state_dict["processed_indices"])
        split = state_dict.get("split")
        if split is None:
            self.reset()
            return
        self._split(split["size"], split["rank"], split["base"])
        self._batches, self._batch_size = split["batches"], split["batch_size"]

    def merge(self, states):
        """Every rank's state_dict (rank order; the same list on every rank, e.g. allgathered
        after the job re-formed): the union of their processed indices plus, for each rank of
        their common split that is missing (it failed), the batches the slowest survivor had
        committed, taken from that rank's share. Then split afresh over the job now."""
        epoch = self.epoch = states[0]["epoch"]  # the permutation below is this epoch's
        states = [s for s in states if s["epoch"] == epoch]
        processed = set().union(*(s["processed_indices"] for s in states))
        splits = [s["split"] for s in states if "split" in s]
        if splits and len(splits) == len(states) and all(
                (s["size"], s["base"]) == (splits[0]["size"], splits[0]["base"]) for s in splits):
            old_size, order = splits[0]["size"], self._order(splits[0]["base"])
            batches = min(s["batches"] for s in splits)
            batch_size = max(s["batch_size"] for s in splits)
            for gone in sorted(set(range(old_size)) - {s["rank"] for s in splits}):
                processed.update(self._share(order, old_size, gone)[:batches * batch_size])
        self.processed_indices = processed
        self.reset()

    def reset(self):
        """Splits the epoch's unprocessed indices over the ranks of the job now."""
        size, rank = _world()
        self._split(size, rank, self.processed_indices)
        self._batches = 0

    def _order(self, base):
        remaining = [i for i in range(len(self.dataset)) if i not in base]
        if self.shuffle:
            generator = torch.Generator()
            generator.manual_seed(self.seed + self.epoch)
            order = torch.randperm(len(remaining), generator=generator).tolist()
            remaining = [remaining[i] for i in order]
        return remaining

    @staticmethod
    def _share(remaining, size, rank):
        """Rank `rank`'s share of the ordered `remaining` indices split over `size` ranks."""
        total = int(math.ceil(len(remaining) / size)) * size
        padded = list(remaining)
        while padded and len(padded) < total:
            padded += padded[:total - len(padded)]
        return padded[rank:total:size]

    def _split(self, size, rank, base):
        self.num_replicas, self.rank, self._base = size, rank, frozenset(base)
        self.remaining_indices = self._order(self._base)
        self.num_samples = int(math.ceil(len(self.remaining_indices) / size))
        self.total_size = self.num_samples * size
        self.indices = self._share(self.remaining_indices, size, rank)

    def __iter__(self):
        return iter(self.indices)

    def __len__(self):
        return self.num_samples
