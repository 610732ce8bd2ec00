"""A cache hint for the kernels' scattered reads: ``prefetch_row(A, i)`` asks the CPU to start
fetching the first cache line of row i of a C-contiguous 2-d array (or element i of a 1-d one),
so that a loop over a column's rows can request rows ``PREFETCH_AHEAD`` iterations before it
reads them.

A column's rows lie anywhere in the residual and factor-sum arrays; once those arrays are larger
than the caches, every row is a trip to memory, and the CPU overlaps only the few its
out-of-order window reaches. The hint (LLVM's ``llvm.prefetch``: a read, kept in all cache
levels) changes no value and no order of any operation: the draws are the same, bit for bit,
with or without it.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["prefetch_row", "PREFETCH_AHEAD"]

#: how many rows ahead a loop requests the rows it will read (measured on a sorted scattered
#: gather from a 640 MB array: 4 to 32 all gain, about a third of the time; 16 is the middle)
PREFETCH_AHEAD = 16


@intrinsic
def prefetch_row(typingctx, arr, i):
    """Hint: fetch row ``i`` of ``arr`` (1-d: element ``i``) into the caches. No bounds check
    is needed: a prefetch of any address never faults."""
    if not isinstance(arr, types.Array) or arr.ndim not in (1, 2) or not isinstance(
            i, types.Integer):
        return None
    sig = types.void(arr, i)

    def codegen(context, builder, signature, args):
        aty = signature.args[0]
        ary = context.make_array(aty)(context, builder, args[0])
        row = context.cast(builder, args[1], signature.args[1], types.intp)
        index = [row] + [context.get_constant(types.intp, 0)] * (aty.ndim - 1)
        ptr = cgutils.get_item_pointer2(context, builder, ary.data,
                                        cgutils.unpack_tuple(builder, ary.shape),
                                        cgutils.unpack_tuple(builder, ary.strides), aty.layout,
                                        index, wraparound=False, boundscheck=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
            "llvm.prefetch.p0")
        # read (0), keep in all levels (3), data cache (1)
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen
