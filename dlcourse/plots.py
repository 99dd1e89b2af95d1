"""Small plotting helpers shared by the lecture notebooks.

Each helper draws on a Matplotlib ``Axes`` (a new figure unless ``ax`` is given) and
returns it, so a notebook can add a line or a label afterwards and then call
``plt.show()``. Inputs may be NumPy arrays, tensors or lists.
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["subplots", "plot_functions", "plot_function_grid", "plot_bars", "contour",
           "draw_network", "plot_curves", "surface", "draw_graph", "plot_paths_1d",
           "plot_histograms"]



def _label(ax, xlabel, ylabel, title, ylim, legend) -> None:
    """Axis labels, title, y-limits and legend, the same way for every line plot."""
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if legend:
        ax.legend(fontsize="small")

def _np(values) -> np.ndarray:
    """Any array-like (list, NumPy array, TensorFlow tensor) as a flat float NumPy array."""
    return np.asarray(values, dtype=float).reshape(-1)


def subplots(ncols: int = 1, nrows: int = 1, width: float = 4.0, height: float = 3.0,
             **kwargs) -> tuple[plt.Figure, np.ndarray]:
    """A figure of ``nrows × ncols`` panels, each ``width × height`` inches.

    Returns ``(fig, axes)`` with ``axes`` always a flat array, even for one panel.
    """
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows),
                             squeeze=False, constrained_layout=True, **kwargs)
    return fig, axes.reshape(-1)


def plot_functions(xs, curves: Mapping[str, object], *, title: str | None = None,
                   xlabel: str = "x", ylabel: str | None = None, ax: plt.Axes | None = None,
                   logx: bool = False, ylim: tuple[float, float] | None = None,
                   points: tuple[object, object] | None = None, points_label: str = "data",
                   marker: str | None = None, legend: bool = True,
                   logy: bool = False) -> plt.Axes:
    """Draw several curves over the same ``xs``: ``{label: ys}``.

    ``points=(x, y)`` adds a scatter (e.g. training data) behind the curves; ``logx`` and
    ``logy`` use logarithmic axes (both: a power law is a straight line); ``marker`` (e.g.
    ``"o"``) marks every point of a curve.
    """
    if ax is None:
        _, ax = plt.subplots()
    xs = _np(xs)
    if points is not None:
        ax.scatter(_np(points[0]), _np(points[1]), s=8, alpha=0.35, color="grey",
                   label=points_label)
    for label, ys in curves.items():
        ax.plot(xs, _np(ys), label=label, marker=marker, lw=1.8)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    _label(ax, xlabel, ylabel, title, ylim, legend and (curves or points is not None))
    return ax


def plot_function_grid(xs, panels: Mapping[str, Mapping[str, object]], *, ncols: int = 4,
                       width: float = 3.0, height: float = 2.4,
                       ylim: tuple[float, float] | None = None) -> np.ndarray:
    """One small panel per entry of ``{panel title: {label: ys}}``, all over the same ``xs``.

    Typical use: each activation with its derivative. A legend is drawn only in panels with
    more than one curve. Returns the flat array of axes; unused panels are hidden.
    """
    nrows = -(-len(panels) // ncols)
    fig, axes = subplots(ncols, nrows, width, height, sharex=True)
    for ax, (title, curves) in zip(axes, panels.items()):
        plot_functions(xs, curves, title=title, ax=ax, ylim=ylim, xlabel="",
                       legend=len(curves) > 1)
        ax.axhline(0, color="black", lw=0.6)
        ax.axvline(0, color="black", lw=0.6)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    return axes


def plot_bars(values: Mapping[str, object], labels: Sequence[str] | None = None, *,
              title: str | None = None, ylabel: str | None = None, ax: plt.Axes | None = None,
              ylim: tuple[float, float] | None = None, annotate: bool = False,
              fmt: str = "{:.2f}") -> plt.Axes:
    """Grouped bar chart: one color per key of ``{series: heights}``, one group per label.

    With a single series and no ``labels``, the keys become the x tick labels instead.
    ``annotate`` writes each bar's height (formatted with ``fmt``) above it.
    """
    if ax is None:
        _, ax = plt.subplots()
    series = {k: _np(v) for k, v in values.items()}
    if labels is None and all(v.size == 1 for v in series.values()):
        heights = np.concatenate(list(series.values()))
        colors = [f"C{i}" for i in range(len(heights))]
        bars = ax.bar(list(series), heights, color=colors)
        containers = [bars]
    else:
        n = len(next(iter(series.values())))
        labels = list(labels) if labels is not None else [str(i) for i in range(n)]
        width = 0.8 / len(series)
        offsets = (np.arange(len(series)) - (len(series) - 1) / 2) * width
        containers = [ax.bar(np.arange(n) + off, h, width, label=name)
                      for off, (name, h) in zip(offsets, series.items())]
        ax.set_xticks(np.arange(n), labels)
        ax.legend(fontsize="small")
    if annotate:
        for bars in containers:
            ax.bar_label(bars, labels=[fmt.format(b.get_height()) for b in bars],
                         fontsize="small", padding=2)
    if ylim is not None:
        ax.set_ylim(*ylim)
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(axis="x", visible=False)
    return ax


def contour(fn: Callable[[np.ndarray, np.ndarray], np.ndarray], xlim: tuple[float, float],
            ylim: tuple[float, float], *, n: int = 121, levels: int = 15, log_levels: bool = True,
            path=None, ax: plt.Axes | None = None, title: str | None = None,
            xlabel: str = "w", ylabel: str = "b", equal: bool = True,
            paths: Mapping[str, object] | None = None) -> plt.Axes:
    """Contour lines of a 2-D function ``fn(X, Y)`` evaluated on an ``n × n`` grid.

    ``fn`` receives two equally shaped grids and returns values of that shape (use NumPy
    broadcasting). ``log_levels`` spaces the contour levels geometrically, which shows
    both the floor and the walls of a loss surface. ``path`` (an ``(steps, 2)`` array of
    points) is drawn on top, e.g. the trajectory of gradient descent. ``paths`` draws several
    labeled trajectories at once, ``{label: (steps, 2) array}``, one color each; the axes
    keep the limits ``xlim`` and ``ylim`` even when a path runs off (a diverging run).
    """
    if ax is None:
        _, ax = plt.subplots()
    gx, gy = np.meshgrid(np.linspace(*xlim, n), np.linspace(*ylim, n))
    z = np.asarray(fn(gx, gy), dtype=float)
    if log_levels:
        lo, hi = max(z.min(), 1e-12), z.max()
        lv = np.geomspace(lo + 0.02 * (hi - lo) / levels, hi, levels)
    else:
        lv = levels
    ax.contour(gx, gy, z, levels=lv, cmap="viridis", linewidths=1.0)
    if path is not None:
        p = np.asarray(path, dtype=float)
        ax.plot(p[:, 0], p[:, 1], "-o", color="C3", ms=2.5, lw=1.2, label="gradient descent")
        ax.plot(p[-1, 0], p[-1, 1], "*", color="C3", ms=10)
        ax.legend(fontsize="small", loc="upper right")
    for i, (label, trajectory) in enumerate((paths or {}).items()):
        p = np.asarray(trajectory, dtype=float)
        color = f"C{(i + 1) % 10}" if path is not None else f"C{i}"
        ax.plot(p[:, 0], p[:, 1], "-o", color=color, ms=2.0, lw=1.2, label=label)
        ax.plot(p[-1, 0], p[-1, 1], "*", color=color, ms=9)
    if paths:
        ax.legend(fontsize="small", loc="upper right")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    if equal:
        ax.set_aspect("equal")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(False)
    if title:
        ax.set_title(title)
    return ax


def draw_network(sizes: Sequence[int], *, ax: plt.Axes | None = None, title: str | None = None,
                 names: Sequence[str] | None = None) -> plt.Axes:
    """Diagram of a fully connected net: one column of circles per layer, every pair of
    neighboring layers joined by all their connections.

    ``sizes`` lists the units per layer, input first (``[3, 4, 2]``). ``names`` labels
    the columns; by default "input", "hidden 1", …, "output".
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(1.6 * len(sizes) + 1, 0.5 * max(sizes) + 1.2))
    if names is None:
        names = ["input"] + [f"hidden {i}" for i in range(1, len(sizes) - 1)] + ["output"]
    ys = [np.arange(n) - (n - 1) / 2 for n in sizes]
    for col, (y_from, y_to) in enumerate(zip(ys[:-1], ys[1:])):
        for a in y_from:
            for b in y_to:
                ax.plot([col, col + 1], [a, b], color="grey", lw=0.6, alpha=0.6, zorder=1)
    for col, y in enumerate(ys):
        color = "white" if col == 0 else ("C1" if col == len(sizes) - 1 else "C0")
        ax.scatter(np.full_like(y, col), y, s=260, color=color, edgecolors="black", zorder=2)
        ax.text(col, -max(sizes) / 2 - 0.3, names[col], ha="center", va="top", fontsize="small")
    ax.set_xlim(-0.5, len(sizes) - 0.5)
    ax.set_ylim(-max(sizes) / 2 - 0.9, max(sizes) / 2 + 0.2)
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax


def plot_curves(curves: Mapping[str, object], *, logy: bool = False, xlabel: str = "step",
                ylabel: str | None = "loss", title: str | None = None,
                ax: plt.Axes | None = None, ylim: tuple[float, float] | None = None,
                alpha: float = 1.0, legend: bool = True) -> plt.Axes:
    """Curves of possibly different lengths against their index: ``{label: ys}``.

    Made for training histories (loss per step or per epoch), where runs may stop at
    different points. A curve stops at its first NaN or infinite value (a diverged run);
    ``logy`` uses a logarithmic y axis, ``alpha`` makes noisy curves see-through.
    """
    if ax is None:
        _, ax = plt.subplots()
    for label, ys in curves.items():
        ys = _np(ys)
        finite = np.isfinite(ys)
        end = int(np.argmin(finite)) if not finite.all() else len(ys)
        ax.plot(np.arange(end), ys[:end], label=label, lw=1.5, alpha=alpha)
    if logy:
        ax.set_yscale("log")
    _label(ax, xlabel, ylabel, title, ylim, legend and curves)
    return ax


def surface(fn: Callable[[np.ndarray, np.ndarray], np.ndarray], xlim: tuple[float, float],
            ylim: tuple[float, float], *, n: int = 60, ax=None, title: str | None = None,
            xlabel: str = "x", ylabel: str = "y", zlabel: str | None = None, path=None,
            elev: float = 30, azim: float = -60):
    """A 3-D surface of ``z = fn(X, Y)`` on an ``n × n`` grid (``fn`` as for :func:`contour`).

    ``ax`` must be a 3-D axes (``fig.add_subplot(projection="3d")``); by default a new figure
    holds one. ``path`` (an ``(steps, 2)`` array) is drawn on the surface. ``elev`` and
    ``azim`` set the viewing angle in degrees.
    """
    if ax is None:
        fig = plt.figure(figsize=(5, 4))
        ax = fig.add_subplot(projection="3d")
    gx, gy = np.meshgrid(np.linspace(*xlim, n), np.linspace(*ylim, n))
    z = np.asarray(fn(gx, gy), dtype=float)
    ax.plot_surface(gx, gy, z, cmap="viridis", alpha=0.8, linewidth=0, antialiased=True)
    if path is not None:
        p = np.asarray(path, dtype=float)
        ax.plot(p[:, 0], p[:, 1], np.asarray(fn(p[:, 0], p[:, 1]), dtype=float), "-o",
                color="C3", ms=2.5, lw=1.5, zorder=10)
    ax.view_init(elev=elev, azim=azim)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if zlabel:
        ax.set_zlabel(zlabel)
    if title:
        ax.set_title(title)
    return ax


def draw_graph(nodes: Mapping[str, tuple[float, float]], edges: Sequence[tuple[str, str]], *,
               operations: Sequence[str] = (), forward: Mapping[str, str] | None = None,
               backward: Mapping[str, str] | None = None, ax: plt.Axes | None = None,
               title: str | None = None, fontsize: float = 11,
               note_fontsize: float | None = None) -> plt.Axes:
    """A computational graph: boxes for values, circles for operations, arrows for data flow.

    ``nodes`` maps each node's label (mathtext such as ``"$W_1$"`` works) to its ``(x, y)``
    position; ``edges`` lists ``(from, to)`` pairs of labels; labels in ``operations`` are
    drawn as operations (circles) instead of values (boxes). ``forward`` writes a note under a
    node in blue (the value the forward pass caches there), ``backward`` a note above it in red
    (the gradient the backward pass brings back). ``fontsize`` sets the size of the node
    labels, ``note_fontsize`` that of the notes (by default two points smaller); raise both
    for a graph that is shown wide, whose labels would otherwise be scaled down with it.
    """
    note_fontsize = fontsize - 2 if note_fontsize is None else note_fontsize
    gap = 0.32 * fontsize / 11          # notes keep clear of larger boxes
    if ax is None:
        xs = [p[0] for p in nodes.values()]
        ys = [p[1] for p in nodes.values()]
        _, ax = plt.subplots(figsize=(1.5 * (max(xs) - min(xs)) + 2, 1.3 * (max(ys) - min(ys)) + 2))
    operations = set(operations)
    boxes = {}
    for label, (x, y) in nodes.items():
        style = (dict(boxstyle="circle,pad=0.3", fc="#fde9c9", ec="C1") if label in operations
                 else dict(boxstyle="round,pad=0.35", fc="white", ec="black"))
        boxes[label] = ax.text(x, y, label, ha="center", va="center", fontsize=fontsize, bbox=style,
                               zorder=3)
    for a, b in edges:   # drawn after the boxes (zorder 4), so each arrow is clipped at their edges
        ax.annotate("", xy=nodes[b], xytext=nodes[a], zorder=4,
                    arrowprops=dict(arrowstyle="-|>", color="grey", lw=1.2, shrinkA=1, shrinkB=1,
                                    patchA=boxes[a].get_bbox_patch(),
                                    patchB=boxes[b].get_bbox_patch()))
    for label, note in (forward or {}).items():
        x, y = nodes[label]
        ax.text(x, y - gap, note, ha="center", va="top", fontsize=note_fontsize, color="C0")
    for label, note in (backward or {}).items():
        x, y = nodes[label]
        ax.text(x, y + gap, note, ha="center", va="bottom", fontsize=note_fontsize, color="C3")
    xs = [p[0] for p in nodes.values()]
    ys = [p[1] for p in nodes.values()]
    ax.set_xlim(min(xs) - 0.8, max(xs) + 0.8)
    ax.set_ylim(min(ys) - 1.0, max(ys) + 1.0)
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax


def decision_boundary(predict: Callable[[np.ndarray], object], x, y, *, ax: plt.Axes | None = None,
                      title: str | None = None, n: int = 100, margin: float = 0.5,
                      xlim: tuple[float, float] | None = None,
                      ylim: tuple[float, float] | None = None) -> plt.Axes:
    """A 2-D binary classifier drawn over its data: the probability of class 1 as filled
    contours, the 0.5 line (the decision boundary) in black, and the points.

    ``predict`` maps a ``(m, 2)`` float32 array of points to their ``m`` probabilities of class 1
    (any shape with ``m`` entries, NumPy array or tensor), e.g.
    ``lambda g: keras.ops.sigmoid(model(g))`` for a model that outputs logits. ``x`` has shape
    ``(n, 2)``, ``y`` holds the ``n`` labels 0 and 1 (class 0 blue circles, class 1 red squares).
    The region shown is the points' bounding box widened by ``margin`` unless ``xlim``/``ylim``
    are given; ``n`` is the grid resolution per axis.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 3.5))
    x, y = np.asarray(x, dtype=float), _np(y)
    xlim = xlim or (x[:, 0].min() - margin, x[:, 0].max() + margin)
    ylim = ylim or (x[:, 1].min() - margin, x[:, 1].max() + margin)
    gx, gy = np.meshgrid(np.linspace(*xlim, n), np.linspace(*ylim, n))
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1).astype("float32")
    p = _np(predict(grid)).reshape(gx.shape)
    ax.contourf(gx, gy, p, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.55)
    if p.min() < 0.5 < p.max():   # a classifier that never crosses 0.5 has no boundary to draw
        ax.contour(gx, gy, p, levels=[0.5], colors="black", linewidths=1.4)
    for label, color, marker in [(0, "C0", "o"), (1, "C3", "s")]:
        keep = y == label
        ax.scatter(x[keep, 0], x[keep, 1], s=20, color=color, marker=marker, edgecolors="black",
                   linewidths=0.5, zorder=3)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.grid(False)
    if title:
        ax.set_title(title)
    return ax


__all__ += ["decision_boundary"]


def plot_paths_1d(fn: Callable[[np.ndarray], np.ndarray], xs, paths: Mapping[str, object], *,
                  ax: plt.Axes | None = None, title: str | None = None, xlabel: str = "w",
                  ylabel: str | None = None, curve_label: str | None = None) -> plt.Axes:
    """A function of one parameter with optimization runs drawn on it.

    ``fn`` maps an array of parameter values to the loss (NumPy broadcasting); it is drawn over
    ``xs`` in black. ``paths`` maps a label to the sequence of parameter values a run visited
    (e.g. ``path[:, 0]`` of a 2-D run); each run's points sit on the curve, joined in order,
    one color each, with a star at its last point.
    """
    if ax is None:
        _, ax = plt.subplots()
    xs = _np(xs)
    ax.plot(xs, _np(fn(xs)), color="black", lw=1.6, label=curve_label)
    for i, (label, path) in enumerate(paths.items()):
        p = _np(path)
        ax.plot(p, _np(fn(p)), "o-", ms=3, lw=0.8, color=f"C{i}", label=label, alpha=0.85)
        ax.plot(p[-1], float(_np(fn(p[-1:]))[0]), "*", ms=12, color=f"C{i}")
    _label(ax, xlabel, ylabel, title, None, bool(paths) or curve_label is not None)
    return ax


def plot_histograms(samples: Mapping[str, object], *, bins=30, ax: plt.Axes | None = None,
                    title: str | None = None, xlabel: str = "value", ylabel: str | None = "count",
                    value_range: tuple[float, float] | None = None, legend: bool = True) -> plt.Axes:
    """Overlaid histograms, one see-through color per entry of ``{label: values}``.

    All samples share the same ``bins`` (a count, or the bin edges) over ``value_range`` (by default
    the range of all values together), so their shapes compare directly.
    """
    if ax is None:
        _, ax = plt.subplots()
    arrays = {k: _np(v) for k, v in samples.items()}
    if value_range is None and arrays:
        joined = np.concatenate(list(arrays.values()))
        value_range = (float(joined.min()), float(joined.max()))
    for label, values in arrays.items():
        ax.hist(values, bins=bins, range=value_range, alpha=0.6, label=label, edgecolor="white", lw=0.4)
    _label(ax, xlabel, ylabel, title, None, legend and len(arrays) > 1)
    return ax
