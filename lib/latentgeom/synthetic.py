"""Ground-truth manifolds with known intrinsic dimension and curvature.

Used by the tests, the benchmark (``bench/``) and the methods pages alike, so that every
estimator is checked against the same truths:

============================  ======================  ====================================
sampler                       intrinsic dimension     principal curvatures
============================  ======================  ====================================
:func:`sphere` S^dim(r)       dim                     1/r in every tangent direction
:func:`cylinder` radius r     2                       1/r and 0
:func:`torus` (R, r)          2                       1/r and cos(t)/(R + r cos(t))
:func:`plane` / cube          dim                     0
:func:`swiss_roll`            2                       varies (ID test only)
:func:`local_sphere`          dim                     1/r; K neighbours per point in a
                                                      geodesic ball of radius rho * r
:func:`local_ellipsoid`       len(axes) - 1           unequal, analytic at every base point
                                                      (returned); K neighbours per point
============================  ======================  ====================================

:func:`smooth_images` draws small random images (no manifold) for the experiments that perturb
the singular values of an image.

Every sampler embeds its manifold by a random rotation into R^D (orthonormal columns, so
distances and curvatures are preserved), takes a ``seed``, returns float64 numpy arrays and
optionally adds isotropic Gaussian noise of standard deviation ``noise`` (in absolute units)
to every coordinate.
"""
from __future__ import annotations

import numpy as np

from .validation import check_int, check_range

__all__ = ["rotation", "sphere", "cylinder", "torus", "plane", "swiss_roll", "local_sphere", "local_ellipsoid",
           "smooth_images"]


def rotation(D: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """A random D x k matrix with orthonormal columns: an isometric embedding of R^k in R^D."""
    if D < k:
        raise ValueError(f"ambient dimension D={D} must be at least the manifold's embedding dimension {k}")
    return np.linalg.qr(rng.standard_normal((D, k)))[0]


def _embed(X: np.ndarray, D: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    out = X @ rotation(D, X.shape[1], rng).T
    noise = check_range(noise, "noise", 0, np.inf, closed="left")
    return out + noise * rng.standard_normal(out.shape) if noise else out


def _unit_vectors(rng, shape) -> np.ndarray:
    z = rng.standard_normal(shape)
    return z / np.linalg.norm(z, axis=-1, keepdims=True)


def sphere(n: int, dim: int = 2, r: float = 1.0, D: int = 10, *, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """[n, D] points uniform on the dim-sphere of radius ``r`` (every principal curvature 1/r)."""
    n, dim = check_int(n, "n", minimum=1), check_int(dim, "dim", minimum=1)
    r = check_range(r, "r", 0, np.inf, closed="neither")
    rng = np.random.default_rng(seed)
    return _embed(r * _unit_vectors(rng, (n, dim + 1)), D, noise, rng)


def cylinder(n: int, r: float = 1.0, D: int = 10, *, height: float = 4.0, noise: float = 0.0,
             seed: int = 0) -> np.ndarray:
    """[n, D] points uniform on a cylinder of radius ``r`` and ``height`` (curvatures 1/r and 0)."""
    n = check_int(n, "n", minimum=1)
    r = check_range(r, "r", 0, np.inf, closed="neither")
    rng = np.random.default_rng(seed)
    t, h = rng.uniform(0, 2 * np.pi, n), rng.uniform(-height / 2, height / 2, n)
    return _embed(np.stack([r * np.cos(t), r * np.sin(t), h], 1), D, noise, rng)


def torus(n: int, R: float = 2.0, r: float = 1.0, D: int = 10, *, noise: float = 0.0,
          seed: int = 0) -> np.ndarray:
    """[n, D] points of the torus with tube radius ``r`` around a circle of radius ``R > r``,
    uniform in the two angles (curvatures 1/r and cos(t) / (R + r cos(t)))."""
    n = check_int(n, "n", minimum=1)
    r = check_range(r, "r", 0, np.inf, closed="neither")
    if not R > r:
        raise ValueError(f"R must be larger than r, got R={R}, r={r}")
    rng = np.random.default_rng(seed)
    t, p = rng.uniform(0, 2 * np.pi, n), rng.uniform(0, 2 * np.pi, n)
    X = np.stack([(R + r * np.cos(t)) * np.cos(p), (R + r * np.cos(t)) * np.sin(p), r * np.sin(t)], 1)
    return _embed(X, D, noise, rng)


def plane(n: int, dim: int = 2, D: int = 10, *, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """[n, D] points uniform in the unit dim-cube, isometrically embedded (curvature 0)."""
    n, dim = check_int(n, "n", minimum=1), check_int(dim, "dim", minimum=1)
    rng = np.random.default_rng(seed)
    return _embed(rng.random((n, dim)), D, noise, rng)


def swiss_roll(n: int, D: int = 3, *, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """[n, D] points of the swiss roll (scikit-learn's parameterisation; intrinsic dimension 2)."""
    n = check_int(n, "n", minimum=1)
    rng = np.random.default_rng(seed)
    t = 1.5 * np.pi * (1 + 2 * rng.random(n))
    h = 21 * rng.random(n)
    return _embed(np.stack([t * np.cos(t), h, t * np.sin(t)], 1), D, noise, rng)


def local_sphere(n: int, dim: int = 2, r: float = 1.0, D: int = 10, K: int = 20, *, rho: float = 0.1,
                 noise: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n base points of S^dim(r) in R^D, each with its own K neighbours drawn uniformly in the
    geodesic ball of radius ``rho * r`` around it.

    Neighbourhoods whose size and count are controlled independently of any sampling density:
    the ground truth for the curvature estimators (every principal curvature is 1/r).

    Returns
    -------
    points : ndarray [n, D]
    neighbours : ndarray [n, K, D]
        ``noise`` (absolute standard deviation) is added independently to every coordinate of
        points and neighbours.
    """
    n, dim, K = check_int(n, "n", minimum=1), check_int(dim, "dim", minimum=1), check_int(K, "K", minimum=1)
    r = check_range(r, "r", 0, np.inf, closed="neither")
    rho = check_range(rho, "rho", 0, np.pi, closed="neither")
    noise = check_range(noise, "noise", 0, np.inf, closed="left")
    rng = np.random.default_rng(seed)
    Q = rotation(D, dim + 1, rng)
    x = _unit_vectors(rng, (n, dim + 1))
    v = rng.standard_normal((n, K, dim + 1))
    v -= (v * x[:, None]).sum(-1, keepdims=True) * x[:, None]
    v /= np.linalg.norm(v, axis=-1, keepdims=True)
    angle = rho * rng.random((n, K, 1)) ** (1 / dim)
    P = r * x @ Q.T
    Y = r * (np.cos(angle) * x[:, None] + np.sin(angle) * v) @ Q.T
    if noise:
        P = P + noise * rng.standard_normal(P.shape)
        Y = Y + noise * rng.standard_normal(Y.shape)
    return P, Y


def smooth_images(n: int, size: int = 12, *, seed: int = 0) -> np.ndarray:
    """[n, 1, size, size] smooth random images: three random rank-one patterns plus a little
    texture (uniform noise of amplitude 0.2), all entries non-negative.

    Inputs for the singular-value perturbations of the methods page "Measuring curvature"
    (:func:`latentgeom.svd_perturbations`): every image has a few large singular values and a
    tail of small ones, like a natural image.
    """
    n, size = check_int(n, "n", minimum=1), check_int(size, "size", minimum=2)
    rng = np.random.default_rng(seed)
    patterns = np.einsum("nki,nkj->nij", rng.random((n, 3, size)), rng.random((n, 3, size)))
    return (patterns + 0.2 * rng.random((n, size, size)))[:, None]


def local_ellipsoid(n: int, axes, D: int = 10, K: int = 20, *, rho: float = 0.1, noise: float = 0.0,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n base points of the ellipsoid sum_i x_i^2 / a_i^2 = 1 in R^(dim+1) (semi-axes ``axes``,
    dim = len(axes) - 1), each with its own K neighbours on it; unequal principal curvatures,
    known analytically at every base point.

    A base point is x = a * g / |g| (g standard normal; every region of the ellipsoid is
    visited). Its neighbours are the points of the ellipsoid straight along the unit normal N
    from x + v, with tangent offsets v uniform in the dim-ball of radius ``rho`` (absolute
    units): an exact graph over the tangent plane, every order of the surface included. The
    principal curvatures at x are the eigenvalues of the shape operator, the restriction of
    diag(1 / a^2) / |x / a^2| to the tangent plane (for an axis-aligned base point x = a_k e_k:
    a_k / a_i^2, i != k).

    Parameters
    ----------
    n, K : int >= 1
    axes : sequence of float > 0, length >= 2
        Semi-axes a_1 .. a_(dim+1).
    D : int >= len(axes)
        Ambient dimension (one random isometric embedding for all points).
    rho : float > 0
        Radius of the tangent ball, small enough that every normal line meets the ellipsoid
        (about half the smallest radius of curvature, a_min^2 / a_max, always does).
    noise : float >= 0
        Standard deviation of the Gaussian noise added to every coordinate of points and
        neighbours (absolute units).
    seed : int

    Returns
    -------
    points : ndarray [n, D]
    neighbours : ndarray [n, K, D]
    kappa : ndarray [n, dim]
        Principal curvatures at each base point, ascending (all positive), in inverse units.
    """
    n, K = check_int(n, "n", minimum=1), check_int(K, "K", minimum=1)
    a = np.asarray(axes, dtype=np.float64).reshape(-1)
    if a.size < 2 or not np.all(np.isfinite(a) & (a > 0)):
        raise ValueError(f"axes must be at least 2 positive finite semi-axes, got {axes!r}")
    dim = a.size - 1
    rho = check_range(rho, "rho", 0, np.inf, closed="neither")
    noise = check_range(noise, "noise", 0, np.inf, closed="left")
    rng = np.random.default_rng(seed)
    Q = rotation(D, dim + 1, rng)
    g = rng.standard_normal((n, dim + 1))
    x = a * g / np.linalg.norm(g, axis=1, keepdims=True)
    grad = x / a ** 2
    normal = grad / np.linalg.norm(grad, axis=1, keepdims=True)  # outward unit normal [n, dim+1]
    # Tangent basis: the eigenvectors of I - N N^T with eigenvalue 1.
    T = np.linalg.eigh(np.eye(dim + 1) - normal[:, :, None] * normal[:, None, :])[1][:, :, 1:]
    shape_operator = np.einsum("nmi,m,nmj->nij", T, 1 / a ** 2, T) / np.linalg.norm(grad, axis=1)[:, None, None]
    kappa = np.linalg.eigvalsh(shape_operator)
    c = rng.standard_normal((n, K, dim))
    c *= rho * rng.random((n, K, 1)) ** (1 / dim) / np.linalg.norm(c, axis=-1, keepdims=True)
    base = x[:, None] + np.einsum("nmi,nki->nkm", T, c)  # x + v, [n, K, dim+1]
    # sum((base + t N)^2 / a^2) = 1: A t^2 + B t + C = 0; the root nearest 0 is the surface
    # point along the normal (the far root is on the other side of the ellipsoid).
    A = (normal ** 2 / a ** 2).sum(-1)[:, None]
    B = 2 * (base * normal[:, None] / a ** 2).sum(-1)
    C = (base ** 2 / a ** 2).sum(-1) - 1
    disc = B ** 2 - 4 * A * C
    if np.any(disc < 0):
        raise ValueError(f"rho={rho} is too large for axes {a.tolist()}: some normal lines miss the ellipsoid; "
                         f"use rho <= {0.5 * a.min() ** 2 / a.max():.3g}")
    roots = (-B[..., None] + np.array([1.0, -1.0]) * np.sqrt(disc)[..., None]) / (2 * A[..., None])
    t = np.take_along_axis(roots, np.abs(roots).argmin(-1)[..., None], -1)
    P, Y = x @ Q.T, (base + t * normal[:, None]) @ Q.T
    if noise:
        P = P + noise * rng.standard_normal(P.shape)
        Y = Y + noise * rng.standard_normal(Y.shape)
    return P, Y, kappa
