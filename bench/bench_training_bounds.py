"""How far a faster batch norm could take the training loop at width 8 (a diagnostic beside
``make bench``'s training table; README, "Speed of training").

At width 8 the batch-norm families stay under the 2x speed-up per loop that the bench asks
for. This script bounds what any faster batch-norm kernel could give there: it times one
epoch of each loop below, alternately, ``--rounds`` times (the fastest epoch of each kept, as
in :mod:`bench_training`), on ``--speed-images`` images:

- **plain**: the first version's loop (``bench_training.PLAIN``, batch 128);
- **ours, batch 128** (the defaults: the first version's SGD settings, which keep its accuracy
  per epoch) and **ours, batch 256** (lr 0.1, scaled with the batch: faster per image, up to 3
  points less accurate after 4 epochs of 12 000 images);
- each of ours again **with the batch-norm stub** (:func:`batch_norm_stub`): the layers that
  :mod:`latentgeom.networks.batch_norm` normalises in the contiguous layout (bfloat16,
  channels-last, fewer than 16 channels, training mode) compute one affine pass,
  ``bias + weight * x``, and no statistics at all. No kernel that normalises can cost less, so
  the stubbed speed-up is an upper bound on what a faster narrow batch norm could reach. The
  stubbed network does not normalise: it is timed, never trained to an accuracy.

Usage::

    python bench/bench_training_bounds.py                     # vgg_small, resnet_small w8, ~1 min
    python bench/bench_training_bounds.py --models vgg_small --rounds 3

Writes ``results/bench/training-bounds.json`` (under ``$LATENTGEOM_HOME``): a ``bounds`` entry
per family and width with each loop's images per second, samples and ratio to the plain loop.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

import torch

from latentgeom.networks import batch_norm

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/, also when loaded by path
from bench_estimators import _core_probe, _load, write_report  # noqa: E402
from bench_training import epoch_speed  # noqa: E402

#: Our loop at batch 256 (the default until 2026-12-07), the learning rate scaled with the batch.
BATCH_256 = dict(batch_size=256, lr=0.1)
#: The loops timed: (name, loop of bench_training, changes of our recipe, batch norm stubbed).
LOOPS = (("plain", "plain", None, False),
         ("ours, batch 128", "ours", None, False),
         ("ours, batch 256", "ours", BATCH_256, False),
         ("ours, batch 128, stub", "ours", None, True),
         ("ours, batch 256, stub", "ours", BATCH_256, True))


class _AffineOnly:
    """Stands in for ``batch_norm._ContiguousBatchNorm``: the affine pass alone, ``[N, C, H, W]``
    in, same shape and layout out (autograd differentiates it)."""

    @staticmethod
    def apply(x, weight, bias, running_mean, running_var, momentum, eps):
        shape = (1, -1, 1, 1)
        return torch.addcmul(bias.view(shape).to(x.dtype), x, weight.view(shape).to(x.dtype))


@contextlib.contextmanager
def batch_norm_stub():
    """Within the block, the narrow layers' batch norm (:func:`batch_norm.takes_contiguous_route`)
    is :class:`_AffineOnly`: no statistics, no running averages, one pass each way."""
    original = batch_norm._ContiguousBatchNorm
    batch_norm._ContiguousBatchNorm = _AffineOnly
    try:
        yield
    finally:
        batch_norm._ContiguousBatchNorm = original


def bounds(model: str, width: int, *, rounds: int = 6, images: int = 3072) -> dict:
    """Images per second of one epoch of every loop of :data:`LOOPS` on ``model`` at ``width``,
    the fastest of ``rounds`` alternating epochs, and each one's ratio to the plain loop."""
    samples: dict[str, list[float]] = {name: [] for name, *_ in LOOPS}
    for r in range(rounds):
        for name, loop, ours, stub in LOOPS:
            with batch_norm_stub() if stub else contextlib.nullcontext():
                samples[name].append(epoch_speed(model, width, loop, ours, images=images, seed=r))
    best = {name: max(s) for name, s in samples.items()}
    return dict(model=model, width=width, rounds=rounds, speed_images=images,
                images_per_second=best, speedup={name: best[name] / best["plain"] for name in best},
                samples=samples)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--models", default="vgg_small,resnet_small", help="comma-separated families")
    ap.add_argument("--widths", default="8", help="comma-separated widths")
    ap.add_argument("--rounds", type=int, default=6, help="alternating rounds (>= 1)")
    ap.add_argument("--speed-images", type=int, default=3072, help="images of each epoch (>= 1)")
    args = ap.parse_args(argv)
    for name in ("rounds", "speed_images"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    widths = [int(w) for w in args.widths.split(",") if w.strip()]
    load_start, probe_start = _load(), _core_probe()
    print(f"machine: {os.cpu_count()} cores, torch {torch.__version__} with {torch.get_num_threads()} threads; "
          f"load average {load_start}; core probe {probe_start:.2f}x", flush=True)
    t = time.perf_counter()
    rows = [bounds(m, w, rounds=args.rounds, images=args.speed_images) for m in models for w in widths]
    print(f"\n{'model':14s} {'w':>3s} " + " ".join(f"{name:>22s}" for name, *_ in LOOPS))
    for r in rows:
        print(f"{r['model']:14s} {r['width']:3d} " + " ".join(
            f"{r['images_per_second'][n]:13.0f} ({r['speedup'][n]:4.2f}x)" for n, *_ in LOOPS))
    probe_end = _core_probe()
    print(f"img/s: one epoch of {args.speed_images} images, the fastest of {args.rounds} alternating rounds; "
          f"(x): ratio to the plain loop. stub: narrow batch norm as one affine pass (an upper bound, not a "
          f"recipe). {time.perf_counter() - t:.0f} s; core probe at start {probe_start:.2f}x, at end "
          f"{probe_end:.2f}x (2 cores: 2.0 when both are free)")
    report = dict(cores=os.cpu_count(), torch_threads=torch.get_num_threads(), load_start=load_start,
                  core_probe_start=probe_start, core_probe_end=probe_end, bounds=rows)
    return write_report("training-bounds", report)


if __name__ == "__main__":
    main()
