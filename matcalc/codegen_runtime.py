"""What every generated function starts with, copied into its source (which stays standalone).

The namespace, floating dtype and device of the arguments, taken from the arguments as
SciPy and scikit-learn do, and each argument as a checked 2-D array.  NumPy arrays use
NumPy's own namespace (the array API standard's since NumPy 2), with no other dependency;
arrays of any other library (PyTorch, JAX, CuPy, Dask, array_api_strict) go through
``array_api_compat``.  Every error is one line naming the argument and what was expected.
This module is never imported by generated code: ``codegen`` copies its text.
"""

import numpy as _numpy

_NUMBERS = (int, float, complex, list, tuple)


def _library(a) -> str:
    return type(a).__module__.split(".")[0]


def _floating(name, dtype, floating) -> None:
    if not floating:
        raise TypeError(f"{name} has dtype {dtype}: expected floating-point values (float32, float64 or complex)")


def _namespace(args):
    """The array namespace, floating dtype and device of the arguments (a dict name -> value)."""
    arrays = {}
    for name, a in args.items():
        if a.__class__ is _numpy.ndarray:  # the common case first, tested cheaply
            if a.dtype.kind not in "fc":
                _floating(name, a.dtype, False)
            arrays[name] = a
        elif not isinstance(a, _NUMBERS):
            return _other_namespace(args)
    return _numpy, (_numpy.result_type(*arrays.values()) if arrays else _numpy.dtype(float)), None


def _other_namespace(args):
    """The same for arrays of a library other than NumPy, through array-api-compat."""
    arrays = {name: a for name, a in args.items() if not isinstance(a, _NUMBERS)}
    if all(isinstance(a, (_numpy.ndarray, _numpy.generic)) for a in arrays.values()):  # NumPy scalars among them
        return _namespace({name: _numpy.asarray(a) for name, a in args.items()})
    try:
        from array_api_compat import array_namespace
    except ImportError:
        name = next(n for n, a in arrays.items() if not isinstance(a, (_numpy.ndarray, _numpy.generic)))
        raise TypeError(f"{name} is a {_library(arrays[name])} array: arrays of libraries other than NumPy "
                        "need array-api-compat (pip install array-api-compat)") from None
    spaces = {}
    for name, a in arrays.items():
        try:
            spaces[name] = array_namespace(a)
        except TypeError:
            raise TypeError(f"{name} is a {type(a).__name__}: expected an array or a number") from None
    first, *others = spaces
    for name in others:
        if spaces[name] is not spaces[first]:
            raise TypeError(f"{first} is a {_library(args[first])} array and {name} a {_library(args[name])} "
                            "array: give every argument as an array of one library")
    xp = spaces[first]
    for name, a in arrays.items():
        _floating(name, a.dtype, xp.isdtype(a.dtype, ("real floating", "complex floating")))
    return xp, xp.result_type(*arrays.values()), _device(args[first])


def _device(a):
    if isinstance(a, _numpy.ndarray):
        return None
    try:
        from array_api_compat import device

        return device(a)
    except Exception:  # a value being traced (jax.jit) has no device of its own: the default one
        return None


def _is_dask(xp) -> bool:
    return xp.__name__.startswith("array_api_compat.dask")


def _input(xp, dt, dev, name, value, dims, sizes, shapes):
    """value as a 2-D array of dtype dt (a vector as a column, a number as 1 x 1), its shape checked
    against dims: names of sizes (bound by the first argument that has them) or numbers."""
    a = xp.asarray(value, dtype=dt, device=dev) if isinstance(value, _NUMBERS) else value
    if a.dtype != dt:
        a = xp.astype(a, dt)
    given = shapes[name] = tuple(a.shape)
    if dims[1] != 1:  # a matrix
        ok, shape = len(given) == 2, given
    elif dims[0] == 1:  # a number
        ok, shape = len(given) <= 2 and all(d == 1 for d in given), (1, 1)
    else:  # a vector, given as (n,) or (n, 1)
        ok = len(given) == 1 or (len(given) == 2 and given[1] == 1)
        shape = (given[0], 1) if ok else given
    for axis, d in enumerate(dims):
        if not ok:
            break
        if d.__class__ is str:
            ok = sizes.setdefault(d, (shape[axis], name))[0] == shape[axis]
        elif d is not None:
            ok = shape[axis] == d
    if not ok:
        raise ValueError(_shape_error(name, given, dims, sizes))
    return a if shape == given else xp.reshape(a, shape)


def _shape_error(name, given, dims, sizes) -> str:
    """What is wrong with the shape of an argument, in one line."""
    rows, cols = dims
    if cols != 1:
        expected = f"a matrix: shape ({rows}, {cols})"
    elif rows == 1:
        return f"{name} has shape {given}: expected a number: shape () or (1, 1)"
    else:
        expected = f"a vector: shape ({rows},) or ({rows}, 1)"
    bound = [f"{d} = {sizes[d][0]} (from {sizes[d][1]})" for d in dims if isinstance(d, str) and d in sizes
             and sizes[d][1] != name]
    return f"{name} has shape {given}: expected {expected}" + (f" with {', '.join(bound)}" if bound else "")


def _bind(names, args, values):
    """Arguments given by position (in the order of names) and by name, as one dict (for names
    that are Python keywords, which cannot be parameters)."""
    if len(args) > len(names):
        raise TypeError(f"{len(args)} arguments given by position: this function takes {len(names)}")
    bound = dict(zip(names, args))
    for name, value in values.items():
        if name not in names:
            raise TypeError(f"unknown argument {name}: this function takes {', '.join(names)}")
        if name in bound:
            raise TypeError(f"{name} is given both by position and by name")
        bound[name] = value
    missing = [name for name in names if name not in bound]
    if missing:
        raise TypeError(f"missing argument {', '.join(missing)}")
    return bound
