"""Fixed 3x3 Sobel filters and the Sobel gradient magnitude (the FAS-SGTD gradient branch), in equivalent forms.

All forms compute the same numbers up to float rounding (cross-correlation, zero padding 1):

* :func:`sobel_xy`: one depthwise convolution per kernel, the literal reference; while tracing it
  takes :func:`sobel_xy_fixed_kernel`, whose kernel shape ONNX accepts;
* :func:`sobel_xy_shifted` and the default :func:`gradient_magnitude`: the separable kernels as
  shifted slices with in-place arithmetic, a hand-written backward, and the work split into
  chunks of whole planes of about :data:`CHUNK_ELEMENTS` values, so the temporaries stay in
  cache and in the allocator's reusable heap (a fresh 33 MB block costs a page fault per 4 KiB
  page, which on a virtual machine is more than the arithmetic); channels-last input takes
  oneDNN's depthwise convolution instead, its fastest kernel in that layout;
* :func:`sobel_xy_padded`: out-of-place slices of the padded input, the form ``torch.compile``
  fuses into one loop.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F

SOBEL_X = ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0))
SOBEL_Y = ((1.0, 2.0, 1.0), (0.0, 0.0, 0.0), (-1.0, -2.0, -1.0))
MINUS_SOBEL_Y = tuple(tuple(-v for v in row) for row in SOBEL_Y)
CHUNK_ELEMENTS = 1 << 22  # 16 MB of float32 per chunk: fits the L3 cache, below glibc's 32 MiB mmap ceiling


def is_tracing() -> bool:
    """True while ``torch.jit.trace`` or the ONNX exporter records the graph."""
    return torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()


def is_channels_last(x: torch.Tensor) -> bool:
    """True for a 4-d tensor stored channels-last and not also NCHW-contiguous (one channel, 1x1 maps)."""
    return x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


# ---- reference forms -------------------------------------------------------------------------

def sobel_xy(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Depthwise fixed Sobel (cross-correlation, zero padding 1) -> ``(Sx(x), Sy(x))`` (docs/methods/fas_sgtd.md).

    While tracing (ONNX export) it takes :func:`sobel_xy_fixed_kernel`, the same arithmetic with a
    kernel whose shape does not depend on the input.
    """
    if is_tracing():
        return sobel_xy_fixed_kernel(x)
    c = x.size(1)
    kx = torch.tensor(SOBEL_X, dtype=x.dtype, device=x.device).expand(c, 1, 3, 3)
    ky = torch.tensor(SOBEL_Y, dtype=x.dtype, device=x.device).expand(c, 1, 3, 3)
    return F.conv2d(x, kx, padding=1, groups=c), F.conv2d(x, ky, padding=1, groups=c)


def sobel_xy_fixed_kernel(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`sobel_xy` with one fixed ``[2, 1, 3, 3]`` kernel over the channels folded into the batch.

    The depthwise form expands its kernel to the input's channel count; a tracer records that
    count as a dynamic size and ONNX then refuses the convolution ("kernel of unknown shape").
    Filtering each channel on its own with zero padding 1 is the same arithmetic.
    """
    b, c, h, w = x.shape
    k = torch.tensor((SOBEL_X, SOBEL_Y), dtype=x.dtype, device=x.device).unsqueeze(1)
    g = F.conv2d(x.reshape(-1, 1, h, w), k, padding=1).reshape(b, c, 2, h, w)
    return g[:, :, 0], g[:, :, 1]


def sobel_xy_padded(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The separable Sobel as out-of-place slices of the zero-padded input.

    Slower in eager mode (five temporaries) but one expression that ``torch.compile`` fuses.
    """
    p = F.pad(x, (1, 1, 1, 1))
    up, mid, down = p[..., :-2, :], p[..., 1:-1, :], p[..., 2:, :]
    rows_smooth, rows_diff = up + 2.0 * mid + down, up - down
    gx = rows_smooth[..., 2:] - rows_smooth[..., :-2]
    gy = rows_diff[..., :-2] + 2.0 * rows_diff[..., 1:-1] + rows_diff[..., 2:]
    return gx, gy


# ---- separable building blocks ---------------------------------------------------------------

def _smooth(x: torch.Tensor, dim: int, out: torch.Tensor | None = None) -> torch.Tensor:
    """``out[i] = x[i-1] + 2 x[i] + x[i+1]`` along ``dim``, zero beyond the edges (``out`` must not overlap ``x``)."""
    n = x.shape[dim]
    out = torch.mul(x, 2.0) if out is None else torch.mul(x, 2.0, out=out)
    out.narrow(dim, 1, n - 1).add_(x.narrow(dim, 0, n - 1))
    out.narrow(dim, 0, n - 1).add_(x.narrow(dim, 1, n - 1))
    return out


def _difference(x: torch.Tensor, dim: int, out: torch.Tensor | None = None) -> torch.Tensor:
    """``out[i] = x[i+1] - x[i-1]`` along ``dim``, zero beyond the edges (``out`` must not overlap ``x``)."""
    n = x.shape[dim]
    out = torch.empty_like(x) if out is None else out
    if n < 2:
        return out.zero_()
    torch.sub(x.narrow(dim, 2, n - 2), x.narrow(dim, 0, n - 2), out=out.narrow(dim, 1, n - 2))
    out.narrow(dim, 0, 1).copy_(x.narrow(dim, 1, 1))
    torch.neg(x.narrow(dim, n - 2, 1), out=out.narrow(dim, n - 1, 1))
    return out


def _depthwise(x: torch.Tensor, taps: tuple[tuple[float, ...], ...]) -> torch.Tensor:
    """The fixed 3x3 kernel ``taps`` on every channel of 4-d ``x`` (cross-correlation, zero padding 1).

    The kernel is stored channels-last too: with an NCHW kernel oneDNN reorders on every call.
    """
    c = x.shape[1]
    kernel = torch.tensor(taps, dtype=x.dtype, device=x.device).expand(c, 1, 3, 3)
    return F.conv2d(x, kernel.contiguous(memory_format=torch.channels_last), padding=1, groups=c)


def _sobel_a(x: torch.Tensor, out: torch.Tensor | None = None, scratch: torch.Tensor | None = None) -> torch.Tensor:
    """``A = Sx``: ``[1, 2, 1]`` down the rows, then ``[-1, 0, 1]`` along the columns.

    ``out`` and ``scratch`` are optional buffers of ``x``'s shape; ``out`` may be ``x`` itself.
    ``A`` is antisymmetric under a 180-degree turn of its kernel, so its adjoint is ``-A``.
    Channels-last input takes the depthwise convolution (buffers unused).
    """
    if is_channels_last(x):
        return _depthwise(x, SOBEL_X)
    return _difference(_smooth(x, -2, out=scratch), -1, out=out)


def _sobel_b(x: torch.Tensor, out: torch.Tensor | None = None, scratch: torch.Tensor | None = None) -> torch.Tensor:
    """``B = -Sy``: ``[-1, 0, 1]`` down the rows, then ``[1, 2, 1]`` along the columns; adjoint ``-B``.

    Buffers and layouts as in :func:`_sobel_a`.
    """
    if is_channels_last(x):
        return _depthwise(x, MINUS_SOBEL_Y)
    return _smooth(_difference(x, -2, out=scratch), -1, out=out)


def _sobel_parts(x: torch.Tensor, out_a: torch.Tensor | None = None,
                 out_b: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(A(x), B(x)) = (Sx(x), -Sy(x))``, sharing one scratch buffer (``out_*``: optional destinations)."""
    if is_channels_last(x):
        return _sobel_a(x), _sobel_b(x)
    scratch = _smooth(x, -2)
    a = _difference(scratch, -1, out=out_a)
    return a, _sobel_b(x, out=out_b, scratch=scratch)


def _magnitude_(gx: torch.Tensor, gy: torch.Tensor, eps: float) -> torch.Tensor:
    """``sqrt(gx^2 + gy^2 + eps)`` written into ``gx`` (the literal formula's operation order)."""
    return gx.mul_(gx).addcmul_(gy, gy).add_(eps).sqrt_()


# ---- chunking --------------------------------------------------------------------------------

def _chunkable(*tensors: torch.Tensor) -> bool:
    """True for NCHW-contiguous CPU tensors, whose ``[N*C, H, W]`` slabs are contiguous views.

    On a GPU one launch over the whole tensor beats many small ones: no chunking there.
    """
    return all(t.device.type == "cpu" and t.dim() == 4 and t.is_contiguous() for t in tensors)


def _plane_chunks(*tensors: torch.Tensor) -> Iterator[tuple[torch.Tensor, ...]]:
    """Matching slabs of whole ``H x W`` planes of NCHW-contiguous tensors, about :data:`CHUNK_ELEMENTS` each."""
    planes = [t.flatten(0, 1) for t in tensors]
    n, h, w = planes[0].shape
    step = max(1, CHUNK_ELEMENTS // max(1, h * w))
    for start in range(0, n, step):
        yield tuple(p[start:start + step] for p in planes)


# ---- gradient magnitude ----------------------------------------------------------------------

def _magnitude_no_grad(x: torch.Tensor, eps: float) -> torch.Tensor:
    """The magnitude without autograd, chunked by planes when ``x`` is NCHW (channels-last: depthwise, whole)."""
    if not _chunkable(x):
        return _magnitude_(*_sobel_parts(x), eps)
    out = torch.empty_like(x)
    for xs, os in _plane_chunks(x, out):
        _magnitude_(*_sobel_parts(xs, out_a=os), eps)
    return out


def _magnitude_forward(x: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(g, A(x) / g, B(x) / g)``: the magnitude and the two normalised gradients its backward needs."""
    if not _chunkable(x):
        gx, gy = _sobel_parts(x)
        mag = (gx * gx).addcmul_(gy, gy).add_(eps).sqrt_()
        return mag, gx.div_(mag), gy.div_(mag)
    mag, nx, ny = torch.empty_like(x), torch.empty_like(x), torch.empty_like(x)
    for xs, ms, ax, by in _plane_chunks(x, mag, nx, ny):
        _sobel_parts(xs, out_a=ax, out_b=by)
        torch.mul(ax, ax, out=ms).addcmul_(by, by).add_(eps).sqrt_()
        ax.div_(ms)
        by.div_(ms)
    return mag, nx, ny


def _magnitude_backward(grad: torch.Tensor, nx: torch.Tensor, ny: torch.Tensor) -> torch.Tensor:
    """``A^T(grad * nx) + B^T(grad * ny) = -(A(a) + B(b))``, in three buffers per chunk."""
    if not _chunkable(grad, nx, ny):
        return _minus_a_plus_b(grad * nx, grad * ny)
    out = torch.empty_like(grad)
    for gs, xs, ys, os in _plane_chunks(grad, nx, ny, out):
        _minus_a_plus_b(gs * xs, gs * ys, out=os)
    return out


def _minus_a_plus_b(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """``-(A(a) + B(b))``, overwriting ``a`` and ``b`` (they must be the caller's own temporaries)."""
    if is_channels_last(a) or is_channels_last(b):
        return _sobel_a(a).add_(_sobel_b(b)).neg_()
    scratch = _smooth(a, -2)  # A(a) is the column difference of this; a itself is free from here on
    a_term = _difference(scratch, -1, out=a)
    return torch.add(_sobel_b(b, out=b, scratch=scratch), a_term, out=out).neg_()


class _GradientMagnitude(torch.autograd.Function):
    """Sobel magnitude with a hand-written backward (the literal form leaves it to autograd).

    With ``g = sqrt(A(x)^2 + B(x)^2 + eps)``: ``dL/dx = A^T(dL/dg * A(x) / g) + B^T(dL/dg * B(x) / g)``
    and ``A^T = -A``, ``B^T = -B``. Only the two normalised gradients are kept for the backward pass.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, eps: float) -> torch.Tensor:
        mag, nx, ny = _magnitude_forward(x, eps)
        ctx.save_for_backward(nx, ny)
        return mag

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return _magnitude_backward(grad, *ctx.saved_tensors), None


def gradient_magnitude(x: torch.Tensor, eps: float = 1e-8, literal: bool = False) -> torch.Tensor:
    """``sqrt(Sx(x)^2 + Sy(x)^2 + eps)``, the RSGB gradient branch input.

    The default is the fast form of the module docstring; ``literal=True`` is the depthwise
    convolution form with autograd (the reference the tests and benchmarks compare against), also
    taken while tracing; under ``torch.compile`` the padded-slices form is used.
    """
    if literal or is_tracing():
        gx, gy = sobel_xy(x)
        return torch.sqrt(gx * gx + gy * gy + eps)
    if torch.compiler.is_compiling():
        gx, gy = sobel_xy_padded(x)
        return torch.sqrt(gx * gx + gy * gy + eps)
    if torch.is_grad_enabled() and x.requires_grad:
        return _GradientMagnitude.apply(x, eps)
    return _magnitude_no_grad(x, eps)


# ---- both gradients (the multi-frame OFFB) -----------------------------------------------------

def _sobel_xy_no_grad(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if not _chunkable(x):
        gx, minus_gy = _sobel_parts(x)
        return gx, minus_gy.neg_()
    gx, gy = torch.empty_like(x), torch.empty_like(x)
    for xs, ax, by in _plane_chunks(x, gx, gy):
        _sobel_parts(xs, out_a=ax, out_b=by)[1].neg_()
    return gx, gy


class _SobelXY(torch.autograd.Function):
    """:func:`sobel_xy_shifted` for inputs that need a gradient: ``dL/dx = -A(dL/dSx) + B(dL/dSy)``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return _sobel_xy_no_grad(x)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_x: torch.Tensor, grad_y: torch.Tensor) -> torch.Tensor:
        if not _chunkable(grad_x, grad_y):
            return _sobel_b(grad_y).sub_(_sobel_a(grad_x))
        out = torch.empty_like(grad_x)
        for gxs, gys, os in _plane_chunks(grad_x, grad_y, out):
            a_term = _sobel_a(gxs)
            _sobel_b(gys, out=os).sub_(a_term)
        return out


def sobel_xy_shifted(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(Sx(x), Sy(x))`` as :func:`sobel_xy`, in the fast form of the module docstring (differentiable)."""
    if torch.compiler.is_compiling():
        return sobel_xy_padded(x)
    if torch.is_grad_enabled() and x.requires_grad:
        return _SobelXY.apply(x)
    return _sobel_xy_no_grad(x)
