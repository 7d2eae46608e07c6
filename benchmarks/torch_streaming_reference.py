"""The PyTorch reference of the streaming input at 224: lightly's SimCLRTransform in a DataLoader.

    python -m venv .cache/torchvision
    .cache/torchvision/bin/pip install torch==2.14.1 torchvision==0.29.1 lightly==1.6.0
    .cache/torchvision/bin/python benchmarks/torch_streaming_reference.py [--folder=.cache/jpeg256_10000]
        [--batch=256] [--batches=8] [--workers=2]

Not part of the library. What a lightly user runs: a Dataset that opens each JPEG of the folder with
PIL (RGB), lightly's `SimCLRTransform(input_size=224)` (two views: RandomResizedCrop 0.08-1,
horizontal flip 0.5, colour jitter 0.8 s with s = 1 at p 0.8, greyscale 0.2, PIL Gaussian blur
p 0.5 with sigma 0.1-2, to tensor, ImageNet normalisation), `DataLoader(batch_size, shuffle=True,
num_workers, drop_last=True, persistent_workers=True)`. Source images/s over `--batches` batches
after the first (workers starting, first batches) is taken. Prints one line `source images/s: N`
that benchmarks/input_224.py reads. torch 2.13's CPU wheel does not load torchvision's operators
here, hence the default (CUDA) wheels of torch 2.14.1 in their own venv, run on the CPU.
"""

import argparse
import os
import time

import torch
from lightly.transforms import SimCLRTransform
from PIL import Image


class Folder(torch.utils.data.Dataset):
    def __init__(self, folder, transform):
        self.paths = sorted(os.path.join(folder, n) for n in os.listdir(folder))
        self.transform = transform

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        with Image.open(self.paths[index]) as image:
            return self.transform(image.convert("RGB"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--folder", default=".cache/jpeg256_10000")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    torch.manual_seed(0)
    loader = torch.utils.data.DataLoader(
        Folder(args.folder, SimCLRTransform(input_size=224)), batch_size=args.batch, shuffle=True,
        num_workers=args.workers, drop_last=True, persistent_workers=args.workers > 0)
    iterator = iter(loader)
    view_a, view_b = next(iterator)
    assert view_a.shape == (args.batch, 3, 224, 224), view_a.shape
    start = time.perf_counter()
    for _ in range(args.batches):
        next(iterator)
    print(f"source images/s: {args.batches * args.batch / (time.perf_counter() - start):.1f}")


if __name__ == "__main__":
    main()
