"""Machine code of the compiled loops, kept on disk and loaded with LLVM alone, not Numba.

Numba's own on-disk cache saves compiling, but loading from it still imports Numba and starts
its typing and lowering machinery: about 140 MiB of resident memory in a process whose model
needs less. So each kernel of ``ops/kernels/`` is compiled once per argument signature by
Numba into a C-callable entry point (``numba.cfunc``) that takes every array as the address
of its NumPy object and reads the data pointer, shape and strides from it (C-contiguous arrays
get Numba's C-layout code, as its dispatcher gives them); its object code goes to a file.
Later processes map that object into an LLVM MCJIT engine (``llvmlite.binding``, about 45 MiB)
and call the entry through ``ctypes``, which releases the GIL as Numba's ``nogil`` did.

A file holds one JSON header line (the entry's symbol and the external symbols it needs) and
the object code. Its name hashes the kernels' source, the Numba, llvmlite, NumPy and Python
versions and the CPU (the code is compiled for this CPU), so a change of any of them compiles
afresh. The cache is the library's own output, like Numba's, never a user's file.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import platform
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = 2  # bump when the entry's calling convention below changes
KERNELS_SOURCES = sorted(Path(__file__).with_name("kernels").glob("*.py"))
# Reached only when a kernel raises (Numba's exception and reference-count paths); the kernels
# never raise (no bounds checks, no allocation), so these stop the process rather than guess.
_ERROR_PATH_SYMBOLS = frozenset({
    "numba_do_raise", "numba_gil_ensure", "numba_gil_release",
    "numba_runtime_build_excinfo_struct", "numba_unpickle", "NRT_Free",
    "NRT_MemInfo_call_dtor"})
# the words of NumPy's array object (PyArrayObject) after its Python header: data, the number
# of dimensions (a C int), the shape pointer, the strides pointer
_DATA, _DIMS, _STRIDES = 2, 4, 5
_ARRAY_CHARS = frozenset("?bhilqBHILQfd")  # the dtypes an entry takes (native byte order)
_CTYPES = {"?": ctypes.c_bool, "q": ctypes.c_int64, "f": ctypes.c_float, "d": ctypes.c_double}

# An argument's kind: ("a", dtype.char, ndim, C-contiguous) for an array, else a scalar code.
Kind = tuple[Any, ...]


def cache_folders() -> list[Path]:
    """Where the objects may go, first choice first: under NUMBA_CACHE_DIR when it is set,
    beside the kernels (as Numba caches), the user's cache folder."""
    folders = []
    if os.environ.get("NUMBA_CACHE_DIR"):
        folders.append(Path(os.environ["NUMBA_CACHE_DIR"]) / "gridnn-kernels")
    folders.append(Path(__file__).with_name("__pycache__"))
    home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folders.append(Path(home) / "gridnn" / "kernels")
    return folders


def kernel_names() -> frozenset[str]:
    """The kernels of ``ops/kernels/`` (its modules' decorated functions), read without
    importing them."""
    import ast

    return frozenset(f.name for source in KERNELS_SOURCES
                     for f in ast.parse(source.read_text()).body
                     if isinstance(f, ast.FunctionDef) and f.decorator_list)


def writable_folder(folders: list[Path]) -> Path:
    """The first of ``folders`` this process can create and write files in."""
    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                return folder
        except OSError:
            continue
    raise RuntimeError("no writable folder for the compiled kernels' cache, tried "
                       + ", ".join(map(str, folders)))


def environment_key() -> str:
    """What the machine code depends on besides the argument kinds (see the module's doc)."""
    from importlib.metadata import version

    import llvmlite.binding as llvm

    parts = [str(FORMAT), *(source.read_text() for source in KERNELS_SOURCES),
             version("numba"), version("llvmlite"), np.__version__, platform.python_version(),
             sys.platform,
             os.environ.get("NUMBA_CPU_NAME") or llvm.get_host_cpu_name(),
             os.environ.get("NUMBA_CPU_FEATURES") or llvm.get_host_cpu_features().flatten()]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def split(args: tuple[Any, ...]) -> tuple[tuple[Kind | None, ...], list[Any]]:
    """The kinds of a kernel call's arguments (None for one no entry point takes) and the
    entry point's C arguments: an array goes in as the address of its NumPy object, whose
    data pointer, shape and strides the entry reads (``check_array_layout``)."""
    kinds: list[Kind | None] = []
    for a in args:
        if type(a) is np.ndarray:
            d = a.dtype
            kinds.append(("a", d.char, a.ndim, a.flags.c_contiguous)
                         if a.ndim and d.char in _ARRAY_CHARS and d.isnative else None)
        elif type(a) is int:  # the common case first
            kinds.append(("q",))
        elif isinstance(a, (bool, np.bool_)):
            kinds.append(("?",))
        elif isinstance(a, (int, np.integer)):
            kinds.append(("q",))
        elif isinstance(a, (float, np.floating)):
            kinds.append(("f",) if isinstance(a, np.float32) else ("d",))
        else:
            kinds.append(None)
    # the caller's references keep every array alive through the call
    return tuple(kinds), [id(a) if type(a) is np.ndarray else a for a in args]


def check_array_layout() -> None:
    """RuntimeError unless NumPy's array object holds its data pointer, shape pointer and
    strides pointer in the words the entries read (NumPy's C struct, ``PyArrayObject``)."""
    a = np.zeros((3, 5), np.float32)[:, 1:4]
    words = (ctypes.c_int64 * 6).from_address(id(a))
    dims = (ctypes.c_int64 * 2).from_address(words[_DIMS])
    strides = (ctypes.c_int64 * 2).from_address(words[_STRIDES])
    if (words[_DATA], tuple(dims), tuple(strides)) != (a.ctypes.data, a.shape, a.strides):
        raise RuntimeError("this NumPy's array object is not laid out as the compiled "
                           "kernels' entry points read it")


def _argtypes(kinds: tuple[Kind, ...]) -> list[Any]:
    return [ctypes.c_void_p if k[0] == "a" else _CTYPES[k[0]] for k in kinds]


class ObjectCache:
    """Entry points of the kernels, one per (kernel, argument kinds), from disk or compiled;
    the caller holds one lock around ``entry``."""

    def __init__(self, folder: Path) -> None:
        import llvmlite.binding as llvm

        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        self.llvm = llvm
        self.folder = folder
        self.key = environment_key()
        self.engines: list[Any] = []  # one per object, so no two share a symbol namespace
        self.bound: set[str] = set()
        self._stop = ctypes.CFUNCTYPE(None)(_stop)

    def entry(self, name: str, kinds: tuple[Kind, ...]) -> Callable[..., Any] | None:
        """The ctypes function of ``name`` for arguments of ``kinds``, or None when that
        kernel cannot be made a plain C entry point (it returns a value, or needs Numba's
        runtime): the caller then runs it through Numba."""
        digest = hashlib.sha256(f"{self.key}\0{name}\0{kinds!r}".encode()).hexdigest()[:24]
        path = self.folder / f"{name}-{digest}.kernel"
        found = _read(path)
        if found is None:
            found = compile_entry(name, kinds)
            _write(path, found)
        header, code = found
        if header["symbol"] is None:
            return None
        address = self._load(header, code)
        if address is None:
            return None
        return ctypes.CFUNCTYPE(None, *_argtypes(kinds))(address)

    def _load(self, header: dict[str, Any], code: bytes) -> int | None:
        llvm = self.llvm
        for symbol in header["externals"]:
            if symbol in self.bound:
                continue
            if symbol in _ERROR_PATH_SYMBOLS:
                address = ctypes.cast(self._stop, ctypes.c_void_p).value
            else:  # the C library's and Python's own functions, found in this process
                address = _address_in_process(symbol)
            if address is None:
                return None
            llvm.add_symbol(symbol, address)
            self.bound.add(symbol)
        # an engine owns (and frees) its target machine: one each
        machine = llvm.Target.from_default_triple().create_target_machine(jit=True)
        engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), machine)
        engine.add_object_file(llvm.ObjectFileRef.from_data(code))
        engine.finalize_object()
        self.engines.append(engine)
        return int(engine.get_function_address(header["symbol"]))


def _address_in_process(symbol: str) -> int | None:
    try:
        return ctypes.addressof(ctypes.c_char.in_dll(ctypes.CDLL(None), symbol))
    except ValueError:
        return None


def _stop() -> None:
    sys.stderr.write("gridnn: a compiled kernel took an error path it never takes; stopping\n")
    os.abort()


def _read(path: Path) -> tuple[dict[str, Any], bytes] | None:
    try:
        raw = path.read_bytes()
        head, _, code = raw.partition(b"\n")
        header = json.loads(head)
        if set(header) != {"symbol", "externals"} or (header["symbol"] is not None
                                                      and not code):
            return None
        return header, code
    except (OSError, ValueError):
        return None


def _write(path: Path, found: tuple[dict[str, Any], bytes]) -> None:
    header, code = found
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(json.dumps(header).encode() + b"\n" + code)
        os.replace(tmp, path)  # another process writing the same entry writes the same bytes
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def compile_entry(name: str, kinds: tuple[Kind, ...]) -> tuple[dict[str, Any], bytes]:
    """Compile ``kernels.<name>`` for ``kinds`` with Numba into a C entry point: (header,
    object code); the header's symbol is None when the kernel cannot be one."""
    import re

    from numba import carray, cfunc, from_dtype, types
    from numba.core.errors import NumbaError

    from . import kernels

    kernel = getattr(kernels, name)
    scope = {"carray": carray, "as_strided": np.lib.stride_tricks.as_strided, "kernel": kernel,
             "pointer": _pointer_intrinsic(), "int64": np.int64}
    params, lines, sig, inner = [], [], [], []
    for i, k in enumerate(kinds):
        params.append(f"a{i}")
        if k[0] != "a":
            scalar = {"?": types.boolean, "q": types.int64, "f": types.float32,
                      "d": types.float64}[k[0]]
            sig.append(scalar)
            inner.append(scalar)
            continue
        _, char, ndim, contiguous = k
        scope[f"t{i}"] = np.dtype(char).type
        sig.append(types.CPointer(types.int64))  # the array object's words
        dims = ", ".join(f"a{i}_n[{d}]" for d in range(ndim))
        lines += [f"    a{i}_p = pointer(a{i}[{_DATA}], t{i})",
                  f"    a{i}_n = carray(pointer(a{i}[{_DIMS}], int64), {ndim})"]
        if contiguous:
            lines.append(f"    a{i} = carray(a{i}_p, ({dims},))")
            inner.append(types.Array(from_dtype(np.dtype(char)), ndim, "C"))
        else:
            strides = ", ".join(f"a{i}_s[{d}]" for d in range(ndim))
            lines += [f"    a{i}_s = carray(pointer(a{i}[{_STRIDES}], int64), {ndim})",
                      f"    a{i} = as_strided(carray(a{i}_p, (1,)), ({dims},), ({strides},))"]
            inner.append(types.Array(from_dtype(np.dtype(char)), ndim, "A"))
    _compile_kernel(kernel, tuple(inner), slp=name in kernels.SLP_KERNELS)
    if kernel.overloads[tuple(inner)].signature.return_type != types.none:
        return {"symbol": None, "externals": []}, b""
    source = (f"def {name}_entry({', '.join(params)}):\n" + "\n".join(lines)
              + f"\n    kernel({', '.join(f'a{i}' for i in range(len(kinds)))})\n")
    exec(compile(source, f"<gridnn entry of {name}>", "exec"), scope)  # our own text above
    try:
        entry = cfunc(types.void(*sig), error_model="numpy")(scope[f"{name}_entry"])
        library = entry._library
        ir = library.get_llvm_str()
        _, _, (code, _) = library.serialize_using_object_code()
    except (NumbaError, AttributeError):  # a Numba without what the entry needs
        return {"symbol": None, "externals": []}, b""
    externals = sorted(set(re.findall(r'^declare [^@]*@"?([\w.$]+)"?\(', ir, re.M))
                       | set(re.findall(r'^@"?([\w.$]+)"? = external ', ir, re.M)))
    externals = [s for s in externals if not s.startswith("llvm.")]
    for symbol in externals:
        if symbol not in _ERROR_PATH_SYMBOLS and _address_in_process(symbol) is None:
            return {"symbol": None, "externals": []}, b""  # needs Numba's runtime
    return {"symbol": entry.native_name, "externals": externals}, code


def _compile_kernel(kernel: Any, signature: tuple[Any, ...], slp: bool) -> None:
    """Compile the Numba kernel for ``signature``; with ``slp``, with LLVM's SLP vectoriser on
    (Numba's passes read the setting each time they optimise a function)."""
    from numba.core import config

    before = config.SLP_VECTORIZE
    config.SLP_VECTORIZE = before or slp
    try:
        kernel.compile(signature)
    finally:
        config.SLP_VECTORIZE = before


def _pointer_intrinsic() -> Any:
    """``pointer(address, scalar type)``: the address (an int64) as a pointer to that type,
    which Numba has no function for."""
    from numba.core.extending import intrinsic
    from numba.core.types import CPointer

    @intrinsic
    def pointer(typingctx: Any, address: Any, scalar: Any) -> Any:
        result = CPointer(scalar.instance_type)

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            return builder.inttoptr(args[0], context.get_value_type(result))
        return result(address, scalar), codegen
    return pointer
