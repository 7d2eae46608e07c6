"""The PyTorch reference of `benchmarks/step.py`: the same SimCLR train step, timed the same way.

    python -m venv .cache/torch && .cache/torch/bin/pip install torch==2.13.0 numpy
    .cache/torch/bin/python benchmarks/torch_reference.py [--width=0.25 --width=1.0]
        [--mode=eager --mode=channels_last --mode=compile] [--steps=10] [--rounds=2]

Not part of the library (torch is not a dependency). It builds, in plain torch, what lightly's
SimCLR example trains: torchvision's ResNet-18 with the CIFAR stem (3x3 conv, stride 1, no max-pool),
BasicBlocks [2, 2, 2, 2], 1x1 conv + BN shortcuts; lightly's SimCLRProjectionHead (Linear without
bias, BatchNorm1d, ReLU, Linear) 512 -> 512 -> 128 (widths x `--width`); lightly's NTXentLoss
(cosine similarities / 0.5, cross-entropy over the 2N - 1 others). torchvision and lightly do not
install beside this machine's CPU torch wheel, so the three pieces are written out here; the
encoder's parameter count is printed to check it against keras-ssl's (700,176 at 1/4 width).
SGD with momentum 0.9, batch 256 x 2 views of 32x32 random tensors (one encoder pass of 512, as
keras-ssl does), median of `--steps` steps after 2 warm-up steps, `--rounds` rounds alternating the
configurations (A B A B). Modes: eager (NCHW), channels_last, compile (torch.compile of the model,
channels_last); `--bf16` adds bfloat16 autocast runs.
"""

import argparse
import os
import statistics
import time

import torch
from machine import steal_share, steal_ticks  # (benchmarks/machine.py)
from torch import nn
from torch.nn import functional as F


class BasicBlock(nn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                          nn.BatchNorm2d(c_out))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


def resnet18_cifar(width):
    widths = [int(64 * width * 2 ** i) for i in range(4)]
    layers = [nn.Conv2d(3, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU()]
    c_in = widths[0]
    for i, c in enumerate(widths):
        for j in range(2):
            layers.append(BasicBlock(c_in, c, 2 if (i > 0 and j == 0) else 1))
            c_in = c
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers), c_in


class SimCLR(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.backbone, dim = resnet18_cifar(width)
        self.head = nn.Sequential(nn.Linear(dim, dim, bias=False), nn.BatchNorm1d(dim), nn.ReLU(),
                                  nn.Linear(dim, 128))

    def forward(self, x):
        return self.head(self.backbone(x))


def nt_xent(z, temperature=0.5):
    n = z.shape[0] // 2
    z = F.normalize(z.float(), dim=1)
    logits = z @ z.t() / temperature
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    return F.cross_entropy(logits, targets)


def build(width, mode, bf16, batch):
    torch.manual_seed(0)
    model = SimCLR(width)
    memory_format = torch.contiguous_format if mode == "eager" else torch.channels_last
    model = model.to(memory_format=memory_format)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    views = torch.rand(2 * batch, 3, 32, 32).to(memory_format=memory_format)
    forward = torch.compile(model) if mode == "compile" else model

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = nt_xent(forward(views))
        loss.backward()
        optimizer.step()
        return loss

    for _ in range(2):
        step()
    params = sum(p.numel() for p in model.backbone.parameters())
    return step, params


def median_step(step, steps, stolen):
    times = []
    start_ticks = steal_ticks()
    for _ in range(steps):
        start = time.perf_counter()
        step().item()
        times.append(time.perf_counter() - start)
    stolen.append(steal_share(start_ticks, steal_ticks()))
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=float, action="append")
    parser.add_argument("--mode", choices=("eager", "channels_last", "compile"), action="append")
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    configs = [(w, m, b) for w in args.width or [0.25, 1.0]
               for m in args.mode or ["channels_last", "compile"]
               for b in ([False, True] if args.bf16 else [False])]
    runs = {c: build(*c, args.batch) for c in configs}
    seconds, stolen = {c: [] for c in configs}, {c: [] for c in configs}
    for _ in range(args.rounds):
        for c, (step, _) in runs.items():
            seconds[c].append(median_step(step, args.steps, stolen[c]))
    for (width, mode, bf16), (_, params) in runs.items():
        s = seconds[(width, mode, bf16)]
        print(f"PyTorch SimCLR ResNet-18 CIFAR stem stride 1, width {width:g} ({params:,} encoder "
              f"params), batch {args.batch} x 2 views 32x32, {mode}, "
              f"{'bfloat16 autocast' if bf16 else 'float32'}: "
              f"{' / '.join(f'{t:.3f}' for t in s)} s/step, {args.batch / min(s):,.0f} images/s "
              f"(steal {' / '.join(f'{x:.1%}' for x in stolen[(width, mode, bf16)])})")


if __name__ == "__main__":
    main()
