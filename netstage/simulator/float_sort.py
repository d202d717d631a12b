"""Ascending in-place sort of float arrays inside compiled kernels (LSD radix sort).

The subtree levels of the incremental N-1 (:func:`netstage.simulator.incremental.
tree_levels`) sort, per overloaded link and scenario, a few thousand demands and
throttle thresholds; with spread load (both halves sorted) numba's ``ndarray.sort``
(a quicksort) was two thirds of that kernel. The values are demands drawn as float32,
so most of the low bytes of their float64 patterns are zero and the passes over them
are skipped: the radix sort does about four passes of counting and scattering where
the quicksort compares some twelve times per value.

A sort has one result (equal values are interchangeable), so the kernels that use
it give the same bits as with ``ndarray.sort``. NaN is not expected (it would sort
after +inf, as with numpy, only when its sign bit is clear).
"""

from __future__ import annotations

import numba as nb
import numpy as np

_SMALL = 48  # at most this many values: insertion sort (no histogram to clear)
_U64_TOP = np.uint64(1) << np.uint64(63)
_U32_TOP = np.uint32(1) << np.uint32(31)
_BYTE = np.uint64(0xFF)


@nb.njit(cache=True)
def _insertion(a, start, stop):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    for i in range(start + 1, stop):
        v = a[i]
        j = i - 1
        while j >= start and a[j] > v:
            a[j + 1] = a[j]
            j -= 1
        a[j + 1] = v


@nb.njit(cache=True)
def _lsd(keys, tmp, n, n_bytes, count):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Sort ``keys[:n]`` (unsigned) by their low ``n_bytes`` bytes, a byte per pass,
    skipping the bytes every key shares; True when the result ended in ``tmp``."""
    count[:n_bytes] = 0
    for i in range(n):
        v = np.uint64(keys[i])
        for b in range(n_bytes):
            count[b, (v >> np.uint64(8 * b)) & _BYTE] += 1
    src = keys
    dst = tmp
    in_tmp = False
    for b in range(n_bytes):
        shift = np.uint64(8 * b)
        if count[b, (np.uint64(src[0]) >> shift) & _BYTE] == n:
            continue
        run = 0
        for d in range(256):
            c = count[b, d]
            count[b, d] = run
            run += c
        for i in range(n):
            v = src[i]
            dg = (np.uint64(v) >> shift) & _BYTE
            dst[count[b, dg]] = v
            count[b, dg] += 1
        src, dst = dst, src
        in_tmp = not in_tmp
    return in_tmp


@nb.njit(cache=True)
def _sort_patterns(bits, keys, tmp, count, top, n_bytes):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Sort the IEEE bit patterns ``bits`` (uint64 or uint32, ``top`` their sign bit)
    by the value they encode: mapped onto unsigned integers that order the same way,
    radix-sorted, mapped back."""
    n = bits.shape[0]
    for i in range(n):
        v = bits[i]
        keys[i] = ~v if v & top else v | top
    src = tmp if _lsd(keys, tmp, n, n_bytes, count) else keys
    for i in range(n):
        v = src[i]
        bits[i] = v & ~top if v & top else ~v


@nb.njit(cache=True)
def sort_f64(a, start, stop, keys, tmp, count):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Sort ``a[start:stop]`` (float64) ascending in place. Scratch: ``keys``, ``tmp``
    uint64 of at least ``stop - start`` values, ``count`` int64 ``[8, 256]``."""
    if stop - start <= _SMALL:
        _insertion(a, start, stop)
    else:
        _sort_patterns(a[start:stop].view(np.uint64), keys, tmp, count, _U64_TOP, 8)


@nb.njit(cache=True)
def sort_f32(a, start, stop, keys, tmp, count):  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    """Sort ``a[start:stop]`` (float32) ascending in place. Scratch: ``keys``, ``tmp``
    uint32 of at least ``stop - start`` values, ``count`` int64 ``[4, 256]`` or
    larger."""
    if stop - start <= _SMALL:
        _insertion(a, start, stop)
    else:
        _sort_patterns(a[start:stop].view(np.uint32), keys, tmp, count, _U32_TOP, 4)
