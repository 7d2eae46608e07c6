"""Where the SimCLR step's time goes, kernel by kernel: oneDNN's own timing of each primitive.

    python benchmarks/onednn_kernels.py [--width=0.25] [--precision=float32] [--top=10]

Runs one step of `benchmarks/step.py`'s workload (after its 2 warm-up steps) in a child process with
`ONEDNN_VERBOSE=1`, which makes oneDNN print every primitive it executes with its implementation and
milliseconds, and sums them by kind (convolution forward / backward data / backward weights, batch
norm, reorder) and implementation, with GFLOP/s for the convolutions from their shapes; `--top`
lists the slowest single kernels. TensorFlow runs independent ops at once, so kernels can overlap and
their sum can exceed the step's wall time (printed too).
"""

import argparse
import collections
import os
import re
import subprocess
import sys
import time

START, END = "=== step starts ===", "=== step ends ==="
SHAPE = re.compile(r"mb(\d+)_ic(\d+)oc(\d+)_ih\d+oh(\d+)kh(\d+).*ow(\d+)kw(\d+)")


def child(width, precision):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import step  # benchmarks/step.py

    model, dataset, _ = step.build(width, 1, 256, precision, jit=False)
    print(START, flush=True)
    start = time.perf_counter()
    model.fit(dataset, steps_per_epoch=1, epochs=1, verbose=0)
    print(f"{END} {time.perf_counter() - start:.3f}", flush=True)


def convolution_flops(shape):
    match = SHAPE.search(shape)
    if not match:
        return 0
    batch, c_in, c_out, h, kh, w, kw = map(int, match.groups())
    return 2 * batch * c_in * c_out * h * w * kh * kw


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--precision", choices=("float32", "bfloat16"), default="float32")
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.width, args.precision)

    out = subprocess.run(
        [sys.executable, __file__, "--child", f"--width={args.width}", f"--precision={args.precision}"],
        env={**os.environ, "ONEDNN_VERBOSE": "1"}, capture_output=True, text=True, check=True).stdout
    step, wall = out.split(START)[1].split(END)
    kernels = []  # (ms, kind, implementation, propagation, shape, flops)
    for line in step.splitlines():
        fields = line.split(",")
        if line.startswith("onednn_verbose") and len(fields) > 8 and fields[3] == "exec":
            kind, impl, propagation, shape, ms = fields[5], fields[6], fields[7], fields[-2], fields[-1]
            flops = convolution_flops(shape) if kind == "convolution" else 0
            kernels.append((float(ms), kind, impl, propagation, shape, flops))
    if not kernels:
        sys.exit("oneDNN printed no kernels: is this TensorFlow built with oneDNN "
                 "(TF_ENABLE_ONEDNN_OPTS not 0)?")

    total = collections.defaultdict(lambda: [0, 0.0, 0])
    for ms, kind, impl, propagation, _, flops in kernels:
        entry = total[(kind, propagation, impl)]
        entry[0] += 1
        entry[1] += ms
        entry[2] += flops
    print(f"SimCLR ResNet-18 CIFAR stem stride 1, width {args.width:g}, batch 256 x 2 views 32x32, "
          f"{args.precision}: one step {float(wall):.2f} s wall, "
          f"{sum(k[0] for k in kernels) / 1e3:.2f} s of oneDNN kernels")
    for (kind, propagation, impl), (n, ms, flops) in sorted(total.items(), key=lambda t: -t[1][1]):
        rate = f", {flops / ms / 1e6:.0f} GFLOP/s" if flops else ""
        print(f"  {ms:8.1f} ms {n:4d} x {kind} {propagation} ({impl}){rate}")
    print(f"slowest {args.top}:")
    for ms, kind, impl, propagation, shape, flops in sorted(kernels, reverse=True)[:args.top]:
        rate = f", {flops / ms / 1e6:.0f} GFLOP/s" if flops else ""
        print(f"  {ms:8.1f} ms {kind} {propagation} ({impl}) {shape}{rate}")


if __name__ == "__main__":
    main()
