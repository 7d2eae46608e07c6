"""Writes N JPEGs at 256x256 made from CIFAR-10 training images upsampled, for the memory and
throughput measurements of streaming (a flat, unlabeled folder under the git-ignored .cache/).

    python benchmarks/make_jpeg_folder.py --count=10000 [--output=.cache/jpeg256_10000]

Image i is CIFAR-10 training image i mod 50,000 (bicubic upsampling, JPEG quality 90), so
100,000 images reuse each source image twice.
"""

import argparse
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from keras_ssl.data import list_image_folder, unpack_image_folder  # noqa: E402

ARCHIVE = os.path.join(ROOT, "..", "shared", "data", "cifar10-jpg.tar.gz")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--output", default=None)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    output = args.output or os.path.join(ROOT, ".cache", f"jpeg{args.size}_{args.count}")
    cifar = unpack_image_folder(ARCHIVE, os.path.join(ROOT, ".cache", "data", "cifar10"))
    sources = list_image_folder(cifar, "train", labeled=True).paths
    os.makedirs(output, exist_ok=True)

    def write(i):
        path = os.path.join(output, f"{i:06d}.jpg")
        if not os.path.exists(path):
            image = Image.open(sources[i % len(sources)]).convert("RGB")
            image.resize((args.size, args.size), Image.BICUBIC).save(path, quality=90)

    with ThreadPoolExecutor(2) as pool:
        for done, _ in enumerate(pool.map(write, range(args.count)), 1):
            if done % 10000 == 0:
                print(f"{done} / {args.count}", flush=True)
    decoded = args.count * args.size * args.size * 3 / 1e9
    print(f"{output}: {args.count} JPEGs, {decoded:.1f} GB decoded")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
