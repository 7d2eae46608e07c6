"""Run `keras-ssl train ...` in this process; save the trained method's online encoder weights and
its momentum copy's.

    python train_momentum_encoders.py --out weights.npz -- train --config=... --workdir=...

The output holds `online<i>` (the weights of `model.encoder`) and `momentum<i>` (those of the first
network of the method's `MomentumNetwork`, the key / target encoder), in the encoder's weight order.
"""

import argparse

import numpy as np

import keras_ssl.cli.train as train_module
from keras_ssl.cli import main as cli
from keras_ssl.layers import MomentumNetwork


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("cli_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    cli_args = args.cli_args[1:] if args.cli_args[:1] == ["--"] else args.cli_args
    original_train = train_module.train

    def train_and_save(*a, **kw):
        model = original_train(*a, **kw)
        momentum = next(layer for layer in model.layers if isinstance(layer, MomentumNetwork))
        np.savez(args.out,
                 **{f"online{i}": np.asarray(v) for i, v in enumerate(model.encoder.weights)},
                 **{f"momentum{i}": np.asarray(v)
                    for i, v in enumerate(momentum.networks[0].weights)})
        return model

    train_module.train = train_and_save
    cli.run(["keras-ssl", *cli_args])


if __name__ == "__main__":
    main()
