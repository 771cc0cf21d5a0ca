"""``Tensor``: a NumPy array with a gradient, and ``backward()`` over the recorded graph."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._backend import DEFAULT_DTYPE, xp
from .autograd import Function, node_of
from .errors import ArgumentError, ArgumentTypeError

Axis = int | Sequence[int] | None


def _as_float_array(data: Any, dtype: Any) -> Any:
    """Array of ``dtype``; with ``dtype=None`` float arrays keep float64, all else is float32."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return xp.asarray(data, dtype=dtype)
    arr = xp.asarray(data)
    if arr.dtype == xp.float64 and isinstance(data, xp.ndarray):
        return arr
    if arr.dtype.kind in "biuf":
        return arr.astype(DEFAULT_DTYPE, copy=False)
    raise ArgumentTypeError(
        f"tensor: expected real numbers (bool, int or float), received dtype {arr.dtype}"
    )


class Tensor:
    """An n-dimensional array that records the ops applied to it for reverse-mode autograd.

    ``data`` is the NumPy array; ``grad`` is a NumPy array of the same shape (or None) that
    ``backward()`` fills and accumulates into until ``zero_grad()``/``grad = None``.
    """

    __array_priority__ = 1000  # make ndarray <op> Tensor defer to Tensor's reflected operators

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        arr = _as_float_array(data, dtype) if not _is_int_array(data, dtype) else xp.asarray(data)
        if requires_grad and arr.dtype.kind != "f":
            raise ArgumentTypeError(
                f"tensor: requires_grad=True needs a float dtype, received dtype {arr.dtype}"
            )
        self.data = arr
        self.requires_grad = bool(requires_grad)
        self.grad: Any = None
        self._fn: Function | None = None

    @staticmethod
    def _wrap(arr: Any, requires_grad: bool) -> Tensor:
        """Wrap an op's result without copying or converting it: a plain Tensor, also when
        called on a subclass (an op on a Parameter gives a Tensor, not a Parameter)."""
        t = Tensor.__new__(Tensor)
        t.data, t.requires_grad, t.grad, t._fn = arr, requires_grad, None, None
        return t

    # ---- array facts -------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """The array's shape, e.g. (N, C, H, W)."""
        return self.data.shape

    @property
    def dtype(self) -> Any:
        """The NumPy dtype (float32 unless float64 was asked for)."""
        return self.data.dtype

    @property
    def ndim(self) -> int:
        """Number of axes."""
        return self.data.ndim

    @property
    def size(self) -> int:
        """Number of elements."""
        return self.data.size

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user (not by an op): ``backward`` fills their ``grad``."""
        return self._fn is None

    def __len__(self) -> int:
        return len(self.data)

    def numpy(self) -> Any:
        """The underlying array (shared memory, as in PyTorch's ``.numpy()``)."""
        return self.data

    def item(self) -> float | int:
        """The value of a one-element tensor as a Python number."""
        return self.data.item()

    def detach(self) -> Tensor:
        """A tensor sharing the data, cut from the graph."""
        return Tensor._wrap(self.data, False)

    def requires_grad_(self, flag: bool = True) -> Tensor:
        """Start (or stop) recording ops on this tensor for ``backward``; returns ``self``."""
        if flag and self.data.dtype.kind != "f":
            raise ArgumentTypeError(f"requires_grad_: needs a float dtype, has {self.dtype}")
        self.requires_grad = flag
        return self

    def zero_grad(self) -> None:
        """Forget the accumulated gradient (``grad`` becomes None)."""
        self.grad = None

    def astype(self, dtype: Any) -> Tensor:
        """A copy converted to ``dtype`` (differentiable between float dtypes)."""
        from .ops.elementwise import Cast

        return Cast.apply(self, dtype=xp.dtype(dtype))

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        body = xp.array2string(self.data, separator=", ", prefix="tensor(")
        return f"tensor({body}, dtype={self.dtype}{grad})"

    def _repr_html_(self) -> str:
        """Jupyter's display: shape, dtype, range, and a heat map of 1-D/2-D data."""
        from .notebook.html import tensor_html

        return tensor_html(self)

    # ---- autograd ----------------------------------------------------------------------------
    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

        ``grad`` defaults to 1 for a one-element tensor. The graph is walked in reverse
        topological order found by an explicit stack, so graph depth has no recursion limit.
        Arrays saved for backward are freed as they are used unless ``retain_graph``.
        """
        if not self.requires_grad:
            raise ArgumentError("backward: this tensor does not require grad (no graph to walk)")
        if grad is None:
            if self.data.size != 1:
                raise ArgumentError(
                    f"backward: grad can be implied only for one-element outputs, "
                    f"received shape {self.shape}; pass grad= of that shape"
                )
            grad = xp.ones_like(self.data)
        else:
            grad = xp.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=self.dtype)
            if grad.shape != self.shape:
                raise ArgumentError(
                    f"backward: grad has shape {grad.shape} but the tensor has shape {self.shape}"
                )
        root = node_of(self)
        grads: dict[int, Any] = {id(root): grad}
        for node in _topological_order(root):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if isinstance(node, Tensor):  # a leaf
                g = g.astype(node.data.dtype, copy=False)  # a leaf's grad has the leaf's dtype
                node.grad = g.copy() if node.grad is None else node.grad + g
                continue
            if getattr(node, "released", False):
                raise ArgumentError(
                    "backward: part of this graph was already freed by an earlier backward(); "
                    "pass retain_graph=True to the first call to backward through it twice"
                )
            for parent, pg in zip(node.parents, node.backward(g), strict=True):
                if pg is None or parent is None:
                    continue
                key = id(parent)
                grads[key] = pg if key not in grads else grads[key] + pg
            if not retain_graph:
                node.release()


    # ---- operators ---------------------------------------------------------------------------
    def _lift(self, other: Any) -> Tensor:
        """Wrap a scalar or array operand in this tensor's dtype (no silent float64 upcast)."""
        if isinstance(other, Tensor):
            return other
        return Tensor._wrap(xp.asarray(other, dtype=self.dtype), False)

    def __add__(self, other: Any) -> Tensor:
        return _ew.Add.apply(self, self._lift(other))

    def __radd__(self, other: Any) -> Tensor:
        return _ew.Add.apply(self._lift(other), self)

    def __sub__(self, other: Any) -> Tensor:
        return _ew.Sub.apply(self, self._lift(other))

    def __rsub__(self, other: Any) -> Tensor:
        return _ew.Sub.apply(self._lift(other), self)

    def __mul__(self, other: Any) -> Tensor:
        return _ew.Mul.apply(self, self._lift(other))

    def __rmul__(self, other: Any) -> Tensor:
        return _ew.Mul.apply(self._lift(other), self)

    def __truediv__(self, other: Any) -> Tensor:
        return _ew.Div.apply(self, self._lift(other))

    def __rtruediv__(self, other: Any) -> Tensor:
        return _ew.Div.apply(self._lift(other), self)

    def __pow__(self, other: Any) -> Tensor:
        if isinstance(other, (int, float)):
            return _ew.PowScalar.apply(self, exponent=float(other))
        return _ew.Pow.apply(self, self._lift(other))

    def __rpow__(self, other: Any) -> Tensor:
        return _ew.Pow.apply(self._lift(other), self)

    def __neg__(self) -> Tensor:
        return _ew.Neg.apply(self)

    def __matmul__(self, other: Any) -> Tensor:
        return _la.MatMul.apply(self, self._lift(other))

    def __rmatmul__(self, other: Any) -> Tensor:
        return _la.MatMul.apply(self._lift(other), self)

    def __getitem__(self, index: Any) -> Tensor:
        return _sh.GetItem.apply(self, index=_normalize_index(index))

    # Comparisons give plain boolean arrays: they have no gradient.
    def __lt__(self, other: Any) -> Any:
        return self.data < _raw(other)

    def __le__(self, other: Any) -> Any:
        return self.data <= _raw(other)

    def __gt__(self, other: Any) -> Any:
        return self.data > _raw(other)

    def __ge__(self, other: Any) -> Any:
        return self.data >= _raw(other)

    __hash__ = object.__hash__

    # ---- methods (thin wrappers over the ops) ------------------------------------------------
    def exp(self) -> Tensor:
        """Element-wise e**x; same shape."""
        return _ew.Exp.apply(self)

    def log(self) -> Tensor:
        """Element-wise natural logarithm; same shape."""
        return _ew.Log.apply(self)

    def sqrt(self) -> Tensor:
        """Element-wise square root; same shape."""
        return _ew.Sqrt.apply(self)

    def abs(self) -> Tensor:
        """Element-wise absolute value (gradient 0 at 0); same shape."""
        return _ew.Abs.apply(self)

    def relu(self) -> Tensor:
        """max(x, 0) element-wise (gradient 0 at 0); same shape."""
        return _ew.ReLU.apply(self)

    def leaky_relu(self, negative_slope: float = 0.01) -> Tensor:
        """x where x > 0, else negative_slope * x; same shape."""
        return _ew.LeakyReLU.apply(self, negative_slope=float(negative_slope))

    def sigmoid(self) -> Tensor:
        """1 / (1 + e**-x) element-wise, without overflow; same shape."""
        return _ew.Sigmoid.apply(self)

    def tanh(self) -> Tensor:
        """Element-wise hyperbolic tangent; same shape."""
        return _ew.Tanh.apply(self)

    def softmax(self, axis: int = -1) -> Tensor:
        """exp(x) / sum(exp(x)) along ``axis`` (max-shifted, stable); same shape."""
        return _rd.Softmax.apply(self, axis=_rd.check_axis(axis, self.ndim, "softmax"))

    def log_softmax(self, axis: int = -1) -> Tensor:
        """x - logsumexp(x) along ``axis`` (stable); same shape."""
        return _rd.LogSoftmax.apply(self, axis=_rd.check_axis(axis, self.ndim, "log_softmax"))

    def sum(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        """Sum over ``axis`` (an int, a tuple, or None for all); axes go unless ``keepdims``."""
        return _rd.Sum.apply(self, axis=_rd.normalize_axes(axis, self.ndim, "sum"),
                             keepdims=keepdims)

    def mean(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        """Mean over ``axis`` (an int, a tuple, or None for all); axes go unless ``keepdims``."""
        return _rd.Mean.apply(self, axis=_rd.normalize_axes(axis, self.ndim, "mean"),
                              keepdims=keepdims)

    def max(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        """Maximum over ``axis``; the gradient is shared equally between tied maxima."""
        return _rd.Max.apply(self, axis=_rd.normalize_axes(axis, self.ndim, "max"),
                             keepdims=keepdims)

    def min(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        """Minimum over ``axis``, as ``-max(-x)``."""
        return -((-self).max(axis, keepdims))

    def argmax(self, axis: int | None = None) -> Any:
        """Indices of the maxima (a plain integer array: no gradient)."""
        return self.data.argmax(axis=axis)

    def reshape(self, *shape: Any) -> Tensor:
        """The same elements in ``shape`` (ints or one tuple; one entry may be -1)."""
        shape = tuple(shape[0]) if len(shape) == 1 and not isinstance(shape[0], int) else shape
        return _sh.Reshape.apply(self, shape=_sh.check_reshape(self.shape, shape))

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """Axes start_dim..end_dim merged into one, e.g. (N, C, H, W) -> (N, C*H*W) for 1, -1."""
        shape = self.shape
        if not shape:
            return self.reshape(1)
        s = _rd.check_axis(start_dim, self.ndim, "flatten")
        e = _rd.check_axis(end_dim, self.ndim, "flatten")
        if s > e:
            raise ArgumentError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
        return self.reshape(*shape[:s], -1 if 0 not in shape else 0, *shape[e + 1:])

    def transpose(self, *axes: int) -> Tensor:
        """Reverse the axes, swap two (``transpose(a, b)``) or permute (``transpose(perm)``)."""
        if len(axes) == 1 and not isinstance(axes[0], int):
            axes = tuple(axes[0])
        if len(axes) == 2 and self.ndim != 2:
            perm = list(range(self.ndim))
            a, b = (_rd.check_axis(a, self.ndim, "transpose") for a in axes)
            perm[a], perm[b] = perm[b], perm[a]
            axes = tuple(perm)
        return self.permute(*axes) if axes else self.permute(*reversed(range(self.ndim)))

    def permute(self, *axes: int) -> Tensor:
        """Axes reordered: output axis i is input axis ``axes[i]``."""
        if len(axes) == 1 and not isinstance(axes[0], int):
            axes = tuple(axes[0])
        return _sh.Permute.apply(self, axes=_sh.check_perm(axes, self.ndim))

    @property
    def T(self) -> Tensor:  # noqa: N802 - the NumPy/PyTorch name
        """All axes reversed: (M, N) -> (N, M)."""
        return self.permute(*reversed(range(self.ndim)))


def _is_int_array(data: Any, dtype: Any) -> bool:
    """Integer NumPy arrays (class labels) stay integer unless a dtype is asked for."""
    return dtype is None and isinstance(data, xp.ndarray) and data.dtype.kind in "iu"


def _normalize_index(index: Any) -> Any:
    """Replace Tensors inside an index by their arrays (indices carry no gradient)."""
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index.data if isinstance(index, Tensor) else index


def _raw(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """Make a Tensor from a list, scalar or array.

    Floats become float32 unless ``dtype`` says otherwise or ``data`` is already a float64
    array; integer NumPy arrays stay integer (labels); Python lists of ints become float32.
    """
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


# Late imports: the op modules import Tensor from this module.
from .ops import elementwise as _ew  # noqa: E402
from .ops import linalg as _la  # noqa: E402
from .ops import reduce as _rd  # noqa: E402
from .ops import shape as _sh  # noqa: E402


def _topological_order(root: Any) -> list[Any]:
    """Graph nodes (Functions and leaf tensors) reachable from ``root``, each before all of its
    parents (iterative DFS)."""
    order: list[Any] = []
    seen = {id(root)}
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        stack.append((node, True))
        for parent in () if isinstance(node, Tensor) else node.parents:
            if parent is not None and id(parent) not in seen:
                seen.add(id(parent))
                stack.append((parent, False))
    order.reverse()
    return order

