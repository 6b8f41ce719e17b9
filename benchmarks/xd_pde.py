"""CNN vs XD (relaxed from the CNN) vs FNO-1d on Burgers' equation, side by side.

For each resolution, trains the three models on the same data with the same
epochs (FNO recipe: Adam 1e-3, weight decay 1e-4, step decay; XD adds Adam
1e-3 on its architecture parameters) and prints, as a markdown table:

  * the relative L2 test error (the FNO paper's metric; FNO reports 0.0149 at
    s = 256 after 500 epochs on 1000 samples);
  * seconds per epoch (training batches only, median after the first epoch),
    wall-clock and the training process's CPU time (the steadier figure when
    other jobs share the machine);
  * peak memory: the training process's peak RSS above its RSS once data and
    libraries are loaded;

and the time and memory of XD and FNO as ratios to the CNN (target: XD at most
2x the CNN's time per epoch). Each (model, resolution) trains in a fresh
child process of this one run, so that peaks and allocator caches do not mix,
and the models of one resolution run back to back, so that they share the
machine's load.

    python benchmarks/xd_pde.py                                   # 1000/100, 3 resolutions
    python benchmarks/xd_pde.py --n_train 200 --epochs 3 --resolutions 256
    python benchmarks/xd_pde.py --jit_models xd        # XD's step under XLA, the others not
    KERAS_BACKEND=jax python benchmarks/xd_pde.py                 # the same on JAX
"""

import argparse
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

RESULT_PREFIX = "XD_PDE_RESULT "


def _status_mib(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def run_one(args) -> dict:
    """Trains one model at one resolution in this process; returns its figures."""
    from symbolic_automl import data  # pylint: disable=g-import-not-at-top
    from symbolic_automl.spaces.pde import comparison  # pylint: disable=g-import-not-at-top

    train, test = data.load("burgers", seed=args.seed, resolution=args.resolution,
                            n_train=args.n_train, n_test=args.n_test,
                            fine_grid=args.fine_grid, cache_dir=args.cache_dir)
    (model, training), = comparison.operator_models(
        args.resolution, args.epochs, names=[args.child], width=args.width,
        modes=args.modes, batch_size=args.batch_size,
        arch_learning_rate=args.arch_lr).values()
    import keras  # pylint: disable=g-import-not-at-top

    keras.utils.set_random_seed(args.seed)
    baseline = _status_mib("VmRSS")
    jit = args.child in args.jit_models.split(",")
    result = comparison.train_and_test(model, training, train, test,
                                       jit_compile=True if jit else "auto")
    result["peak_mib"] = _status_mib("VmHWM") - baseline
    result["backend"] = keras.backend.backend()
    return result


def _child_command(args, name, resolution):
    command = [sys.executable, os.path.abspath(__file__), "--child", name,
               "--resolution", str(resolution)]
    for flag in ("n_train", "n_test", "epochs", "batch_size", "width", "modes", "arch_lr",
                 "fine_grid", "seed", "jit_models"):
        command += [f"--{flag}", str(getattr(args, flag))]
    if args.cache_dir:
        command += ["--cache_dir", args.cache_dir]
    return command


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--resolutions", default="256,512,1024")
    parser.add_argument("--models", default="cnn,xd,fno")
    parser.add_argument("--n_train", type=int, default=1000)
    parser.add_argument("--n_test", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch_size", type=int, default=20)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--modes", type=int, default=16)
    parser.add_argument("--arch_lr", type=float, default=1e-3)
    parser.add_argument("--fine_grid", type=int, default=2048,
                        help="points Burgers' equation is solved on (papers: 8192)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jit_models", default="",
                        help="Models whose train step is compiled with XLA (e.g. xd); the "
                             "others keep Keras' default (no XLA on a CPU-only TensorFlow).")
    parser.add_argument("--cache_dir", default=None)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--resolution", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        print(RESULT_PREFIX + json.dumps(run_one(args)), flush=True)
        return None

    resolutions = [int(r) for r in args.resolutions.split(",")]
    names = args.models.split(",")
    unknown = [m for m in args.jit_models.split(",") if m and m not in names]
    if unknown:
        parser.error(f"--jit_models {args.jit_models!r}: {unknown} not in --models {names}")
    from symbolic_automl import data_burgers  # pylint: disable=g-import-not-at-top

    start = time.time()
    data_burgers.burgers(args.n_train + args.n_test, seed=args.seed,
                              fine_grid=args.fine_grid, cache_dir=args.cache_dir,
                              verbose=True)
    print(f"data ready in {time.time() - start:.0f} s", flush=True)
    results = {}
    for resolution in resolutions:
        for name in names:
            t = time.time()
            completed = subprocess.run(_child_command(args, name, resolution),
                                       capture_output=True, text=True)
            lines = [l for l in completed.stdout.splitlines() if l.startswith(RESULT_PREFIX)]
            if completed.returncode or not lines:
                print(f"{name} at s={resolution} FAILED:\n{completed.stderr[-3000:]}", flush=True)
                continue
            results[(name, resolution)] = json.loads(lines[-1][len(RESULT_PREFIX):])
            r = results[(name, resolution)]
            print(f"{name} s={resolution}: test rel. L2 {r['test_relative_l2']:.4f}, "
                  f"{r['seconds_per_epoch']:.2f} s/epoch ({r['cpu_seconds_per_epoch']:.2f} CPU s), "
                  f"peak +{r['peak_mib']:.0f} MiB "
                  f"({time.time() - t:.0f} s)", flush=True)
    print()
    print(report(results, resolutions, names, args))
    return results


def report(results, resolutions, names, args) -> str:
    """The markdown tables of errors and of time/memory ratios to the CNN."""
    backend = next(iter(results.values()))["backend"] if results else "?"
    lines = [f"Burgers, {args.n_train} train / {args.n_test} test samples, {args.epochs} "
             f"epochs, batch {args.batch_size}, width {args.width}, modes {args.modes}, "
             f"solved on {args.fine_grid} points; Keras backend {backend}; train step "
             f"compiled with XLA for: {args.jit_models or 'none'}.", "",
             "Relative L2 test error:", "",
             "| model | " + " | ".join(f"s={s}" for s in resolutions) + " |",
             "|---|" + "---|" * len(resolutions)]
    for name in names:
        cells = [f"{results[(name, s)]['test_relative_l2']:.4f}" if (name, s) in results
                 else "failed" for s in resolutions]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "Seconds per epoch, peak memory (MiB above baseline RSS), and ratios to "
              "the CNN:", "",
              "| model | s | s/epoch | x CNN time | CPU s/epoch | x CNN CPU | peak MiB "
              "| x CNN memory | params |",
              "|---|---|---|---|---|---|---|---|---|"]
    for s in resolutions:
        base = results.get(("cnn", s))
        for name in names:
            r = results.get((name, s))
            if r is None:
                continue
            time_ratio = f"{r['seconds_per_epoch'] / base['seconds_per_epoch']:.2f}" if base else "-"
            cpu_ratio = (f"{r['cpu_seconds_per_epoch'] / base['cpu_seconds_per_epoch']:.2f}"
                         if base else "-")
            memory_ratio = (f"{r['peak_mib'] / base['peak_mib']:.2f}"
                            if base and base["peak_mib"] > 0 else "-")
            lines.append(f"| {name} | {s} | {r['seconds_per_epoch']:.2f} | {time_ratio} | "
                         f"{r['cpu_seconds_per_epoch']:.2f} | {cpu_ratio} | "
                         f"{r['peak_mib']:.0f} | {memory_ratio} | {int(r['params'])} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
