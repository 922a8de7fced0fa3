"""hvd.elastic.ElasticSampler and its place in TorchState, at every world size of the compat
suite: each rank's share against an independent reference of Horovod's split (a seeded
permutation of the unprocessed indices, padded to a multiple of the size, every size-th index),
the union of shares covering the epoch, processed indices merged over the ranks by sync(),
commit/restore, and the re-split after the job changes size (simulated per rank)."""

import pytest
import torch

import kolo.torch as hvd
from kolo.torch import elastic_sampler


def reference_share(n, processed, epoch, seed, size, rank, shuffle=True):
    left = [i for i in range(n) if i not in processed]
    if shuffle:
        g = torch.Generator()
        g.manual_seed(seed + epoch)
        left = [left[i] for i in torch.randperm(len(left), generator=g).tolist()]
    per_rank = -(-len(left) // size)
    padded = (left * (per_rank * size // max(len(left), 1) + 1))[:per_rank * size]
    return padded[rank::size]


@pytest.fixture
def world():
    return hvd.rank(), hvd.size()


@pytest.mark.parametrize("n,shuffle", [(23, True), (16, False), (5, True)])
def test_each_rank_gets_horovods_share(world, n, shuffle):
    rank, size = world
    sampler = hvd.elastic.ElasticSampler(list(range(n)), shuffle=shuffle, seed=7)
    sampler.set_epoch(2)
    mine = list(iter(sampler))
    assert mine == reference_share(n, set(), 2, 7, size, rank, shuffle)
    assert len(sampler) == len(mine) == -(-n // size)
    shares = hvd.allgather_object(mine, name="sampler.share.%d" % n)
    assert set().union(*map(set, shares)) == set(range(n))


def test_sync_merges_processed_indices_and_restore_rewinds(world):
    rank, size = world
    n, batch = 40, 3
    sampler = hvd.elastic.ElasticSampler(list(range(n)), seed=1)
    model = torch.nn.Linear(2, 1)
    state = hvd.elastic.TorchState(model, None, train_sampler=sampler, epoch=0)
    assert state.train_sampler is sampler
    list(iter(sampler))
    for b in range(rank + 1):  # ranks processed different numbers of batches
        sampler.record_batch(b, batch)
    committed = set(sampler.processed_indices)
    state.commit()
    sampler.record_batch(rank + 1, batch)
    state.restore()
    assert sampler.processed_indices == committed

    everyone = set().union(*hvd.allgather_object(committed, name="sampler.committed"))
    state.sync()
    assert sampler.processed_indices == everyone
    mine = list(iter(sampler))
    assert mine == reference_share(n, everyone, 0, 1, size, rank)
    shares = hvd.allgather_object(mine, name="sampler.after_sync")
    assert set().union(*map(set, shares)) == set(range(n)) - everyone


def test_a_new_size_resplits_what_is_left(world, monkeypatch):
    rank, size = world
    n, batch = 31, 2
    sampler = hvd.elastic.ElasticSampler(list(range(n)), seed=3)
    for b in range(3):
        sampler.record_batch(b, batch)
    states = hvd.allgather_object(sampler.state_dict(), name="sampler.states")
    done = set().union(*(s["processed_indices"] for s in states))
    new_size = size + 2
    shares = []
    for r in range(new_size):  # what each rank of a re-formed job of new_size would take
        monkeypatch.setattr(elastic_sampler, "_world", lambda r=r: (new_size, r))
        sampler.merge(states)
        assert sampler.processed_indices == done
        shares.append(list(iter(sampler)))
        assert shares[-1] == reference_share(n, done, 0, 3, new_size, r)
    assert set().union(*map(set, shares)) == set(range(n)) - done
    assert all(len(s) == len(shares[0]) for s in shares)


def test_a_failed_ranks_committed_batches_are_not_retrained(world, monkeypatch):
    rank, size = world
    n, batch, committed = 40, 3, 2
    sampler = hvd.elastic.ElasticSampler(list(range(n)), seed=5)
    for b in range(committed):
        sampler.record_batch(b, batch)
    states = hvd.allgather_object(sampler.state_dict(), name="sampler.before_failure")
    gone = size - 1  # the last rank fails; the others re-form as ranks 0 .. size - 2
    survivors = [s for s in states if s["split"]["rank"] != gone]
    monkeypatch.setattr(elastic_sampler, "_world", lambda: (max(size - 1, 1), 0))
    sampler.merge(survivors)
    want = set()
    for r in range(size):
        want.update(reference_share(n, set(), 0, 5, size, r)[:committed * batch])
    assert sampler.processed_indices == want
    assert list(iter(sampler)) == reference_share(n, want, 0, 5, max(size - 1, 1), 0)


def test_restore_keeps_the_split_it_was_saved_on(world):
    rank, size = world
    sampler = hvd.elastic.ElasticSampler(list(range(20)), seed=2)
    mine = list(iter(sampler))
    sampler.record_batch(0, 2)
    saved = sampler.state_dict()
    sampler.record_batch(1, 2)
    sampler.load_state_dict(saved)
    assert list(iter(sampler)) == mine
    assert sampler.processed_indices == set(mine[:2])
    legacy = {"epoch": 0, "processed_indices": set(mine[:2])}  # Horovod's state_dict
    sampler.load_state_dict(legacy)
    assert list(iter(sampler)) == reference_share(20, set(mine[:2]), 0, 2, size, rank)
