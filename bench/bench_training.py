"""Benchmark the training loop (``make bench``): ours against the plain eager float32 loop.

For every family and width of the default zoo (``plain_cnn``, ``vgg_small``, ``resnet_small`` at
widths 8 and 16, Fashion-MNIST) two loops train the same model:

- **plain**: the first version's loop and recipe, ``TrainConfig(precision="float32",
  batch_size=128, lr=0.05, momentum=0.9)``: eager float32, contiguous tensors, a Python loop
  over the parameters in the optimiser step;
- **ours**: :class:`latentgeom.TrainConfig`'s defaults, ``precision="bfloat16"`` with the
  same SGD settings (``batch_size=128``, ``lr=0.05``, ``momentum=0.9``): channels-last
  tensors, the forward pass under bfloat16 autocast, float32 master weights, loss and fused
  optimiser update. ``--ours`` changes its SGD settings (``batch_size``, ``lr``,
  ``momentum``) to measure a candidate recipe against the same plain loop.

Two measurements per model:

- **speed**: images per second of one training epoch (the loop only; model building and
  evaluation excluded), the two loops run alternately ``--rounds`` times on
  ``--speed-images`` images; the fastest epoch of each loop is kept, as ``timeit`` advises
  (slower ones measure other processes on a shared machine), and their ratio is the speed-up;
  beside them, in the same rounds, each loop training **two networks at once**, one per
  single-threaded worker process (:mod:`latentgeom.workers`, how the book trains its zoo).
  Our pair over the plain loop alone is a throughput of the machine (the plain loop gains
  from two processes too); our pair over the plain pair compares the loops at the same use
  of the cores;
- **accuracy**: test accuracy on the full test split (10 000 images) after ``--epochs`` epochs
  on ``--n-train`` training images (the default preset's 12 000 and 4 epochs), for each of
  ``--seeds`` seeds from ``--first-seed`` on (a candidate chosen on some seeds is judged on
  others), the loops again alternating. "Equal" means the two loops' mean accuracies differ
  by no more than the plain loop's seed spread (max - min over its seeds): the reference's own
  variation, which a less stable loop of ours cannot widen.

Usage::

    python bench/bench_training.py                  # ~10 min on 2 idle cores
    python bench/bench_training.py --quick          # 3000 images, 1 epoch, 2 rounds
    python bench/bench_training.py --models vgg_small --widths 16 --seeds 4 --first-seed 10
    python bench/bench_training.py --ours batch_size=256,lr=0.1 --first-seed 10

Writes ``results/bench/training.json`` (under ``$LATENTGEOM_HOME``; with ``--ours``,
``training-candidate.json``): a ``training`` entry per family and width.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from latentgeom import workers
from latentgeom.networks import training
from latentgeom.networks.training import TrainConfig
from latentgeom.units import Train

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/, also when loaded by path
from bench_estimators import _core_probe, _load, write_report  # noqa: E402  (shared with the estimators' bench)

FAMILIES, WIDTHS = ("plain_cnn", "vgg_small", "resnet_small"), (8, 16)
#: The first version's loop and recipe: what "plain" runs.
PLAIN = dict(precision="float32", batch_size=128, lr=0.05, momentum=0.9)
#: Ours: TrainConfig's defaults (named here so that the table says what it compares).
OURS = {name: getattr(TrainConfig(), name) for name in ("precision", "batch_size", "lr", "momentum")}
LOOPS = {"plain": PLAIN, "ours": OURS}
#: The settings of our loop that ``--ours`` (the ``ours`` argument) may change, with the type
#: ``--ours`` reads each one as.
RECIPE_FIELDS = dict(batch_size=int, lr=float, momentum=float)
#: Each loop on two networks at once, one per single-threaded worker process (how the book
#: trains its zoo): the loops compared at the book's own use of the 2 cores.
PAIRS = {loop: f"{loop}, two at once" for loop in LOOPS}
TARGET = 2.0  # the speed-up asked for on every family and width


def our_loop(ours: dict | None = None) -> dict:
    """Our loop's settings: :data:`OURS` with ``ours`` (a dict of :data:`RECIPE_FIELDS`) applied;
    one ValueError names any other key, and TrainConfig checks the values."""
    ours = dict(ours or {})
    unknown = sorted(set(ours) - set(RECIPE_FIELDS))
    if unknown:
        raise ValueError(f"ours may change {list(RECIPE_FIELDS)}, got {unknown}")
    settings = {**OURS, **ours}
    TrainConfig(**settings)  # a bad value raises here, naming the field
    return settings


def parse_recipe(text: str) -> dict:
    """``"lr=0.15,momentum=0.85"`` -> ``{"lr": 0.15, "momentum": 0.85}`` (``--ours``), checked by
    :func:`our_loop`; ``""`` -> ``{}``."""
    ours = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in RECIPE_FIELDS:
            raise ValueError(f"expected KEY=VALUE with KEY one of {list(RECIPE_FIELDS)}, got {item!r}")
        try:
            ours[key] = RECIPE_FIELDS[key](value)
        except ValueError:
            kind = "an integer" if RECIPE_FIELDS[key] is int else "a number"
            raise ValueError(f"{key} must be {kind}, got {value!r}") from None
    our_loop(ours)
    return ours


def _config(model: str, width: int, loop: str, ours: dict | None = None, **settings) -> TrainConfig:
    recipe = our_loop(ours) if loop == "ours" else LOOPS[loop]
    return TrainConfig(model=model, width=width, **{**recipe, **settings})


def _run(config: TrainConfig) -> training.TrainedModel:
    # Never from the model cache: every number here is a training that ran now.
    return training.train(config, device="cpu", cache_models=False, progress=False)


def two_at_once(model: str, width: int, loop: str, ours: dict | None = None, *, images: int, seed: int) -> float:
    """Images per second of ``loop`` training two networks at once, as the book does (in the
    two single-threaded worker processes of :func:`latentgeom.workers.compute`): both epochs'
    images over the span from the first epoch's start to the last one's end (the training
    steps only)."""
    configs = [_config(model, width, loop, ours, n_train=images, epochs=1, n_test=100, seed=seed + k)
               for k in (0, 1)]
    before = os.environ.get("LATENTGEOM_CACHE")
    with tempfile.TemporaryDirectory() as cache:  # never from the model cache
        os.environ["LATENTGEOM_CACHE"] = cache
        try:
            workers.compute([Train(c) for c in configs], workers=2)
            epochs = [Train(c).result().history[0] for c in configs]
        finally:
            if before is None:
                os.environ.pop("LATENTGEOM_CACHE")
            else:
                os.environ["LATENTGEOM_CACHE"] = before
    span = max(e["ended"] for e in epochs) - min(e["ended"] - e["seconds"] for e in epochs)
    return 2 * images / span


def epoch_speed(model: str, width: int, loop: str, ours: dict | None = None, *, images: int, seed: int) -> float:
    """Images per second of one epoch of ``loop`` (``"plain"`` or ``"ours"``, with the ``ours``
    changes of :func:`our_loop`) on ``images`` training images: the training steps only."""
    run = _run(_config(model, width, loop, ours, n_train=images, epochs=1, n_test=100, seed=seed))
    return run.history[0]["images_per_second"]


def speed(model: str, width: int, *, rounds: int = 5, images: int = 3072, ours: dict | None = None) -> dict:
    """Images per second of one epoch of each loop, and of each loop training two networks at
    once (:func:`two_at_once`, the names of :data:`PAIRS`): the fastest of ``rounds`` epochs,
    the four alternating (one each per round, so that all sample the same stretch of the
    machine's time). Returns ``{loop: {"images_per_second": best, "samples": [...]}}``."""
    samples: dict[str, list[float]] = {loop: [] for loop in (*LOOPS, *PAIRS.values())}
    for r in range(rounds):
        for loop in LOOPS:
            samples[loop].append(epoch_speed(model, width, loop, ours, images=images, seed=r))
        for loop, pair in PAIRS.items():
            samples[pair].append(two_at_once(model, width, loop, ours, images=images, seed=100 + 2 * r))
    return {loop: dict(images_per_second=max(s), samples=s) for loop, s in samples.items()}


def accuracy(model: str, width: int, *, seeds=(0, 1, 2), epochs: int = 4, n_train: int | None = 12000,
             n_test: int | None = None, ours: dict | None = None) -> dict:
    """Test accuracy (on ``n_test`` test images; None = the full test split) of each loop after
    ``epochs`` epochs on ``n_train`` images, per seed, the loops alternating; with each run's
    mean images per second and seconds. Returns ``{loop: {"test_accuracy": [...],
    "images_per_second": [...], ...}}``."""
    out: dict[str, dict[str, list]] = {loop: dict(test_accuracy=[], train_accuracy=[], images_per_second=[],
                                                   seconds=[]) for loop in LOOPS}
    for seed in seeds:
        for loop in LOOPS:
            run = _run(_config(model, width, loop, ours, n_train=n_train, epochs=epochs, n_test=n_test, seed=seed))
            out[loop]["test_accuracy"].append(run.test_accuracy)
            out[loop]["train_accuracy"].append(run.train_accuracy)
            out[loop]["seconds"].append(sum(h["seconds"] for h in run.history))
            out[loop]["images_per_second"].append(float(np.mean([h["images_per_second"] for h in run.history])))
    return out


def training_case(model: str, width: int, *, seeds=(0, 1, 2), epochs: int = 4, n_train: int | None = 12000,
                  n_test: int | None = None, rounds: int = 5, speed_images: int = 3072,
                  ours: dict | None = None) -> dict:
    """One row of the table: speed (:func:`speed`) and accuracy (:func:`accuracy`) of both loops
    (ours with the ``ours`` changes of :func:`our_loop`), the speed-up, the accuracy difference
    and whether it is within the plain loop's seed spread."""
    loop = our_loop(ours)
    fast = speed(model, width, rounds=rounds, images=speed_images, ours=ours)
    acc = accuracy(model, width, seeds=seeds, epochs=epochs, n_train=n_train, n_test=n_test, ours=ours)
    plain, mine = (np.asarray(acc[name]["test_accuracy"]) for name in ("plain", "ours"))
    spread = float(np.ptp(plain))
    difference = float(mine.mean() - plain.mean())
    return dict(model=model, width=width, plain_loop=PLAIN, our_loop=loop, seeds=list(seeds), epochs=epochs,
                n_train=n_train, speed_images=speed_images, rounds=rounds,
                plain_images_per_second=fast["plain"]["images_per_second"],
                ours_images_per_second=fast["ours"]["images_per_second"],
                speedup=fast["ours"]["images_per_second"] / fast["plain"]["images_per_second"],
                two_at_once_images_per_second=fast[PAIRS["ours"]]["images_per_second"],
                two_at_once_speedup=fast[PAIRS["ours"]]["images_per_second"] / fast["plain"]["images_per_second"],
                plain_two_at_once_images_per_second=fast[PAIRS["plain"]]["images_per_second"],
                two_at_once_ratio=fast[PAIRS["ours"]]["images_per_second"] / fast[PAIRS["plain"]]["images_per_second"],
                speed_samples={loop: fast[loop]["samples"] for loop in fast},
                plain_test_accuracy=plain.tolist(), ours_test_accuracy=mine.tolist(),
                accuracy_difference=difference, seed_spread=spread, equal_accuracy=abs(difference) <= spread,
                accuracy_runs=acc)


def print_table(rows: list[dict]) -> None:
    print(f"\ntraining, Fashion-MNIST: plain = {PLAIN}, ours = {rows[0]['our_loop'] if rows else OURS}")
    print(f"{'model':14s} {'w':>3s} {'plain img/s':>11s} {'ours img/s':>10s} {'ours/plain':>10s} "
          f"{'pairs: plain':>12s} {'ours':>6s} {'ratio':>6s} {'ours/plain':>10s} "
          f"{'plain test acc':>22s} {'ours test acc':>22s} {'diff':>7s} {'spread':>7s} {'equal':>5s}")
    for r in rows:
        accs = [" ".join(f"{a:.4f}" for a in r[f"{loop}_test_accuracy"]) for loop in ("plain", "ours")]
        print(f"{r['model']:14s} {r['width']:3d} {r['plain_images_per_second']:11.0f} "
              f"{r['ours_images_per_second']:10.0f} {r['speedup']:9.2f}x "
              f"{r['plain_two_at_once_images_per_second']:12.0f} {r['two_at_once_images_per_second']:6.0f} "
              f"{r['two_at_once_ratio']:5.2f}x {r['two_at_once_speedup']:9.2f}x "
              f"{accs[0]:>22s} {accs[1]:>22s} "
              f"{r['accuracy_difference']:+7.4f} {r['seed_spread']:7.4f} {'yes' if r['equal_accuracy'] else 'NO':>5s}")
    if rows:
        r = rows[0]
        print(f"img/s: one epoch of {r['speed_images']} images, the fastest of {r['rounds']} alternating rounds "
              f"per loop (training steps only); pairs: each loop on two networks at once, one per "
              f"single-threaded worker process (as the book trains), both epochs' images over the span from "
              f"the first start to the last end; ratio: ours / plain, both two at once; ours/plain: our pair / "
              f"the plain loop alone. test acc: full test split after {r['epochs']} epochs on "
              f"{r['n_train'] or 'all'} images, seeds {r['seeds']}; equal: |diff of means| <= spread "
              f"(the plain loop's max - min over its seeds).")
        worst = min(r["speedup"] for r in rows)
        pair = min(r["two_at_once_speedup"] for r in rows)
        ratio = min(r["two_at_once_ratio"] for r in rows)
        print(f"two at once: our pair min {pair:.2f}x of the plain loop alone (a throughput of the machine), "
              f"min {ratio:.2f}x of the plain loop's pair (the loops at the same use of the cores)")
        print(f"target: >= {TARGET:g}x on every row: {'met' if worst >= TARGET else 'NOT met'} (min {worst:.2f}x); "
              f"equal accuracy on every row: {'met' if all(r['equal_accuracy'] for r in rows) else 'NOT met'}")


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--quick", action="store_true", help="3000 training images, 1 epoch, 2 speed rounds")
    ap.add_argument("--models", default=",".join(FAMILIES), help="comma-separated families")
    ap.add_argument("--widths", default=",".join(map(str, WIDTHS)), help="comma-separated widths")
    ap.add_argument("--seeds", type=int, default=3, help="seeds of the accuracy runs (>= 2)")
    ap.add_argument("--first-seed", type=int, default=0, help="the accuracy runs' first seed (>= 0)")
    ap.add_argument("--epochs", type=int, default=4, help="epochs of the accuracy runs")
    ap.add_argument("--n-train", type=int, default=12000, help="training images of the accuracy runs")
    ap.add_argument("--rounds", type=int, default=5, help="alternating speed rounds")
    ap.add_argument("--speed-images", type=int, default=3072, help="images of each speed epoch")
    ap.add_argument("--ours", default="", metavar="KEY=VALUE,...",
                    help=f"a candidate recipe for our loop: changes of {', '.join(RECIPE_FIELDS)} "
                         f"(e.g. batch_size=256,lr=0.1); written to training-candidate.json")
    args = ap.parse_args(argv)
    try:
        ours = parse_recipe(args.ours)
    except ValueError as e:
        ap.error(f"--ours: {e}")
    if args.seeds < 2:
        ap.error(f"--seeds must be >= 2 (a seed spread needs two), got {args.seeds}")
    if args.first_seed < 0:
        ap.error(f"--first-seed must be >= 0, got {args.first_seed}")
    if args.quick:
        args.n_train, args.epochs, args.rounds = 3000, 1, 2
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    seeds = tuple(range(args.first_seed, args.first_seed + args.seeds))
    widths = [int(w) for w in args.widths.split(",") if w.strip()]
    cores = os.cpu_count()
    load_start, probe_start = _load(), _core_probe()
    print(f"machine: {cores} cores, torch {torch.__version__} with {torch.get_num_threads()} threads, "
          f"{platform.processor() or platform.machine()}; load average {load_start}; core probe "
          f"{probe_start:.2f}x", flush=True)
    rows = []
    t = time.perf_counter()
    for model in models:
        for width in widths:
            rows.append(training_case(model, width, seeds=seeds, epochs=args.epochs, n_train=args.n_train,
                                      rounds=args.rounds, speed_images=args.speed_images, ours=ours))
            r = rows[-1]
            print(f"  {model} w{width}: {r['speedup']:.2f}x, test accuracy plain {r['plain_test_accuracy']}, ours "
                  f"{r['ours_test_accuracy']}", flush=True)
    load_end, probe_end = _load(), _core_probe()
    print_table(rows)
    print(f"{time.perf_counter() - t:.0f} s; load average at start {load_start}, at end {load_end}; core probe at "
          f"start {probe_start:.2f}x, at end {probe_end:.2f}x (2 cores: 2.0 when both are free)")
    report = dict(cores=cores, torch_threads=torch.get_num_threads(), load_start=load_start, load_end=load_end,
                  core_probe_start=probe_start, core_probe_end=probe_end, training=rows)
    # A candidate recipe never overwrites the table of the library's own loop.
    return write_report("training-candidate" if ours else "training", report)


if __name__ == "__main__":
    main()
