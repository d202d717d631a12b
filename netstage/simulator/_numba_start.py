"""Start numba without importing ``scipy.linalg`` (0.2-0.5 s of every simulating process).

The first compiled kernel a process calls makes numba initialise its CPU target, which
imports ``numba.np.arraymath``; at import that module checks once whether a BLAS is
available (``_HAVE_BLAS``, numba/np/arraymath.py) by importing
``scipy.linalg.cython_blas``, hence all of ``scipy.linalg`` (and through scipy's array
API layer, ``numpy.f2py``): 0.2 s on a quiet 2-core VM, half of loading the kernels,
for a flag that only picks BLAS over a plain loop in an inner-product helper that no
netstage kernel calls (``np.dot`` and ``np.linalg`` inside numba check for BLAS again
when they are compiled, and find it). So this module imports ``numba.np.arraymath``
once with ``scipy.linalg`` hidden; ``scipy.linalg`` imports normally afterwards. If
that import needs ``scipy.linalg`` after all (another numba version), it is simply
left to numba's own start, as before.

Imported for its effect by the modules that hold the simulation kernels.
"""

from __future__ import annotations

import sys

__all__: list[str] = []


def _import_arraymath_without_scipy_linalg() -> None:
    if "numba.np.arraymath" in sys.modules or "scipy.linalg" in sys.modules:
        return
    sys.modules["scipy.linalg"] = None  # type: ignore[assignment]  # import -> ImportError
    try:
        import numba.np.arraymath  # noqa: F401
    except ImportError:  # pragma: no cover - a numba that needs scipy.linalg here
        pass
    finally:
        if "scipy.linalg" in sys.modules and sys.modules["scipy.linalg"] is None:
            del sys.modules["scipy.linalg"]


_import_arraymath_without_scipy_linalg()
