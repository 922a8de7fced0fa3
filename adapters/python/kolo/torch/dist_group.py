"""ProcessGroupKolo: torch.distributed's ProcessGroup (torch 1.13 method names) over Kolo's
native asynchronous collectives on one Kolo process set.

How each op maps (ranks in arguments are group ranks; Kolo's broadcast takes world ranks):

| torch.distributed | ProcessGroup method | Kolo |
| --- | --- | --- |
| all_reduce, all_reduce_coalesced | allreduce, allreduce_coalesced | (grouped) allreduce |
| broadcast | broadcast | broadcast |
| reduce | reduce | allreduce, in place on the root, into a scratch tensor elsewhere |
| all_gather, all_gather_into_tensor | allgather, _allgather_base | allgather of (1, n) rows |
| all_gather_coalesced | allgather_coalesced | grouped allgather |
| gather | gather | alltoall: each rank sends its (1, n) row to the root only |
| scatter | scatter | alltoall: the root sends row i of (size, n) to rank i |
| reduce_scatter, reduce_scatter_tensor | reduce_scatter, _reduce_scatter_base | reducescatter |
| all_to_all, all_to_all_single | alltoall, alltoall_base | alltoall with splits |
| barrier | barrier | barrier |
| send, recv, isend, irecv, batch_isend_irecv | send, recv | kolo.torch isend, irecv (not negotiated; only the two ranks take part) |

Rows are flattened to (rows, n) so that Kolo's negotiation, which checks every dimension but
the first across ranks, turns tensors of different sizes into a KoloMismatchError on every
rank. A check that only this rank's output can fail (a wrong output size) raises on this rank
after the collective, so no peer is left waiting.

Thread: the caller's; ranks issue a group's ops in the same order, as torch requires.
"""

import torch
import torch.distributed as dist

from .. import _runtime
from ..errors import KoloError, KoloInvalidArgumentError, KoloUnsupportedError
from ..process_sets import set_id
from . import mpi_ops, p2p
from .reducescatter import reducescatter_async
from .dist_work import Completion, make_work, named_error

_REDUCE_OPS = {
    dist.ReduceOp.SUM: mpi_ops.Sum,
    dist.ReduceOp.AVG: mpi_ops.Average,
    dist.ReduceOp.PRODUCT: mpi_ops.Product,
    dist.ReduceOp.MIN: mpi_ops.Min,
    dist.ReduceOp.MAX: mpi_ops.Max,
}


def reduce_op(opts, what):
    op = opts.reduceOp if opts is not None else dist.ReduceOp.SUM
    for torch_op, kolo_op in _REDUCE_OPS.items():
        if op == torch_op:
            return kolo_op
    name = str(getattr(op, "op", op)).rsplit(".", 1)[-1]
    raise KoloUnsupportedError("torch.distributed %s: reduce op %s is not supported by the kolo "
                               "backend (it has SUM, AVG, PRODUCT, MIN, MAX)" % (what, name),
                               "KOLO_INVALID_ARGUMENT")


def _root(opts):
    return opts.rootRank if opts is not None else 0


def _bad(what, message):
    return KoloInvalidArgumentError("torch.distributed %s (kolo backend): %s" % (what, message),
                                    "KOLO_INVALID_ARGUMENT")


def _rows(tensors):
    """The tensors flattened and stacked as (len, n) rows (one copy)."""
    return torch.stack([t.reshape(-1) for t in tensors]) if tensors else None


def _copy_rows(what, outputs, rows):
    """Copies row i of `rows` into outputs[i], checking sizes first."""
    if len(outputs) != rows.shape[0]:
        raise _bad(what, "expected %d output tensors, got %d" % (rows.shape[0], len(outputs)))
    for out, row in zip(outputs, rows):
        if out.numel() != row.numel():
            raise _bad(what, "an output tensor has %d elements but the input has %d"
                       % (out.numel(), row.numel()))
        out.copy_(row.view(out.shape))


class ProcessGroupKolo(dist.ProcessGroup):
    """The "kolo" backend's process group over the Kolo ProcessSet `process_set`."""

    def __init__(self, rank, size, process_set, timeout_seconds):
        super().__init__(rank, size)
        self.process_set = process_set
        self._ranks = process_set.ranks or list(range(size))
        self._timeout = timeout_seconds

    def getBackendName(self):
        return "kolo"

    def _work(self, what, submit, finish=None, result=None, depth=3):
        """Submits (`submit()` returns the Kolo handles) and returns the op's Work; `depth`:
        the frames from here to the ProcessGroup method's caller."""
        try:
            handles = submit()
        except KoloError as e:
            raise named_error(what, e) from None
        done = Completion(what, handles, finish or (lambda results: None),
                          result if result is not None else [], self._timeout)
        return make_work(done, depth)

    # ---- reductions -------------------------------------------------------------------

    def _allreduce(self, tensors, op):
        ps = self.process_set
        if len(tensors) == 1:
            return [mpi_ops.allreduce_async_(tensors[0], op=op, process_set=ps)]
        return [mpi_ops.grouped_allreduce_async_(tensors, op=op, process_set=ps)]

    def allreduce(self, tensors, opts=None):
        op = reduce_op(opts, "allreduce")
        return self._work("allreduce", lambda: self._allreduce(tensors, op), result=tensors)

    def allreduce_coalesced(self, tensors, opts=None):
        op = reduce_op(opts, "allreduce_coalesced")
        return self._work("allreduce_coalesced", lambda: self._allreduce(tensors, op),
                          result=tensors)

    def reduce(self, tensors, opts=None):
        op = reduce_op(opts, "reduce")
        ps, root = self.process_set, _root(opts) == self.rank()
        # Non-roots reduce into a scratch tensor, so their input is left as it was.
        submit = (mpi_ops.allreduce_async_ if root else mpi_ops.allreduce_async)
        return self._work("reduce", lambda: [submit(t, op=op, process_set=ps) for t in tensors],
                          result=tensors)

    def reduce_scatter(self, output_tensors, input_tensors, opts=None):
        op = reduce_op(opts, "reduce_scatter")
        ps = self.process_set
        submit = (lambda: [reducescatter_async(_rows(inputs), op=op, process_set=ps)
                           for inputs in input_tensors])

        def finish(results):
            for out, row in zip(output_tensors, results):
                _copy_rows("reduce_scatter", [out], row)
        if any(len(inputs) != self.size() for inputs in input_tensors):
            raise _bad("reduce_scatter", "each input list needs %d tensors" % self.size())
        return self._work("reduce_scatter", submit, finish, output_tensors)

    def _reduce_scatter_base(self, output, input, opts=None):
        op = reduce_op(opts, "reduce_scatter_tensor")
        if input.numel() % self.size():
            raise _bad("reduce_scatter_tensor", "the input's %d elements do not split into %d "
                       "equal parts" % (input.numel(), self.size()))
        if output.numel() * self.size() != input.numel():
            raise _bad("reduce_scatter_tensor", "the output has %d elements, the input's share "
                       "%d" % (output.numel(), input.numel() // self.size()))
        src = input.reshape(self.size(), -1)
        return self._work(
            "reduce_scatter_tensor",
            lambda: [reducescatter_async(src, op=op, process_set=self.process_set,
                                         output=output)],
            result=[output])

    # ---- data movement ----------------------------------------------------------------

    def broadcast(self, tensors, opts=None):
        if not 0 <= _root(opts) < self.size():
            raise _bad("broadcast", "root %d is not a rank of this group of %d"
                       % (_root(opts), self.size()))
        root = self._ranks[_root(opts)]
        return self._work("broadcast", lambda: [
            mpi_ops.broadcast_async_(t, root, process_set=self.process_set) for t in tensors],
            result=tensors)

    def allgather(self, output_tensors, input_tensors, opts=None):
        def finish(results):
            for outputs, rows in zip(output_tensors, results):
                _copy_rows("allgather", outputs, rows)
        return self._work("allgather", lambda: [
            mpi_ops.allgather_async(t.reshape(1, -1), process_set=self.process_set)
            for t in input_tensors], finish, output_tensors)

    def allgather_coalesced(self, output_lists, input_list, opts=None):
        def finish(results):
            for r, outputs in enumerate(output_lists):
                if len(outputs) != len(input_list):
                    raise _bad("allgather_coalesced", "rank %d's output list has %d tensors, "
                               "the input list %d" % (r, len(outputs), len(input_list)))
                for out, gathered in zip(outputs, results[0]):
                    _copy_rows("allgather_coalesced", [out], gathered[r:r + 1])
        return self._work("allgather_coalesced", lambda: [mpi_ops.grouped_allgather_async(
            [t.reshape(1, -1) for t in input_list], process_set=self.process_set)],
            finish, output_lists)

    def _allgather_base(self, output, input, opts=None):
        if output.numel() != input.numel() * self.size():
            raise _bad("all_gather_into_tensor", "the output has %d elements, the gathered "
                       "inputs %d" % (output.numel(), input.numel() * self.size()))
        return self._work("all_gather_into_tensor", lambda: [
            mpi_ops.allgather_async(input.reshape(1, -1), process_set=self.process_set,
                                    output=output)], result=[output])

    def _alltoall(self, what, src, splits, finish, result, output=None):
        return self._work(what, lambda: [
            mpi_ops.alltoall_async(src, splits, process_set=self.process_set, output=output)],
            lambda results: finish(*results[0]), result, depth=4)

    def gather(self, output_tensors, input_tensors, opts=None):
        root = _root(opts)
        splits = [1 if r == root else 0 for r in range(self.size())]

        def finish(rows, received):
            if self.rank() == root:
                _copy_rows("gather", output_tensors[0], rows)
        return self._alltoall("gather", input_tensors[0].reshape(1, -1), splits, finish,
                              output_tensors)

    def scatter(self, output_tensors, input_tensors, opts=None):
        root, out = _root(opts), output_tensors[0]
        if self.rank() == root:
            if len(input_tensors[0]) != self.size():
                raise _bad("scatter", "the root needs %d tensors to scatter, got %d"
                           % (self.size(), len(input_tensors[0])))
            src, splits = _rows(input_tensors[0]), [1] * self.size()
        else:
            src, splits = out.new_empty((0, out.numel())), [0] * self.size()
        return self._alltoall("scatter", src, splits,
                              lambda rows, received: _copy_rows("scatter", [out], rows),
                              output_tensors)

    def alltoall(self, output_tensors, input_tensors, opts=None):
        if len(input_tensors) != self.size():
            raise _bad("all_to_all", "expected %d input tensors, got %d"
                       % (self.size(), len(input_tensors)))
        src = torch.cat([t.reshape(-1) for t in input_tensors])
        splits = [t.numel() for t in input_tensors]

        def finish(flat, received):
            if received.tolist() != [t.numel() for t in output_tensors]:
                raise _bad("all_to_all", "received %s elements from the ranks, but the output "
                           "tensors hold %s" % (received.tolist(),
                                                [t.numel() for t in output_tensors]))
            for out, piece in zip(output_tensors, flat.split(received.tolist())):
                out.copy_(piece.view(out.shape))
        return self._alltoall("all_to_all", src, splits, finish, output_tensors)

    def alltoall_base(self, output, input, output_split_sizes, input_split_sizes,
                      opts=None):
        what, size = "all_to_all_single", self.size()
        splits = list(input_split_sizes)
        if not splits:
            if input.dim() == 0 or input.shape[0] % size:
                raise _bad(what, "the input's first dimension does not split into %d equal "
                           "parts" % size)
            splits = [input.shape[0] // size] * size
        expected = list(output_split_sizes)

        def finish(rows, received):
            got = received.tolist()
            if (expected and got != expected) or rows.numel() != output.numel():
                raise _bad(what, "received rows %s (%d elements) from the ranks, but the "
                           "output expects %s (%d elements)" % (
                               got, rows.numel(), expected or "equal parts", output.numel()))
        # The runtime writes `output` itself where it can (else the rows are copied into it).
        return self._alltoall(what, input, splits, finish, [output], output=output)

    def barrier(self, opts=None):
        pset = set_id(self.process_set)
        return self._work("barrier", lambda: [
            _runtime.submit_barrier(_runtime.auto_name("barrier", pset), pset)])

    # ---- point-to-point -----------------------------------------------------------------

    def _peer(self, what, tensors, peer, tag, submit):
        if len(tensors) != 1:
            raise _bad(what, "takes one tensor, got %d" % len(tensors))
        if not 0 <= peer < self.size():
            raise _bad(what, "rank %d is not in this group of %d" % (peer, self.size()))
        return self._work(what, lambda: [submit(tensors[0], peer, tag, self.process_set)],
                          result=tensors)

    def send(self, tensors, dstRank, tag=0):
        return self._peer("send", tensors, dstRank, tag, p2p.isend)

    def recv(self, tensors, srcRank, tag=0):
        return self._peer("recv", tensors, srcRank, tag, p2p.irecv)

    # ---- not provided here --------------------------------------------------------------

    def _unsupported(self, what, why=""):
        raise KoloUnsupportedError("torch.distributed %s is not supported by the kolo backend%s"
                                   % (what, why), "KOLO_INVALID_USAGE")

    def recv_anysource(self, *args, **kwargs):
        self._unsupported("recv from any source (src=None)", ": Kolo matches a receive by its "
                          "sender and tag; name src")

    def monitored_barrier(self, *args, **kwargs):
        self._unsupported("monitored_barrier")
