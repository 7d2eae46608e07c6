"""Train a tiny SimCLR 3 steps with `model.fit` on N logical CPU devices; save losses and weights.

    python simclr_fit.py --devices 2 --sync-bn 1 --init init.weights.h5 --out result.npz

`--devices 1` runs without a strategy (the one-device reference). With `--write-init` the run saves
its initial weights to `--init`; otherwise it loads them, so every run starts from the same weights.
The output holds `loss` (what `fit` logs after each step: the running mean of the step losses),
`paths` (the weights' paths) and, in that order, `initial<i>` and `final<i>` (every model weight,
batch-norm statistics included, before and after training).
"""

from common import fit_and_save, fit_argument_parser, load_or_write_init, setup

import keras
import numpy as np
import tensorflow as tf

from keras_ssl.encoders import ResNet18
from keras_ssl.methods import SimCLR

STEPS = 3
GLOBAL_BATCH = 8
IMAGE_SHAPE = (16, 16, 3)


def main():
    parser = fit_argument_parser()
    parser.add_argument("--sync-bn", type=int, choices=(0, 1), required=True)
    args = parser.parse_args()
    strategy = setup(args.devices)

    rng = np.random.default_rng(0)
    view1, view2 = rng.random((2, STEPS * GLOBAL_BATCH, *IMAGE_SHAPE), dtype=np.float32)
    # Global batches; fit splits each over the replicas (experimental_distribute_dataset).
    dataset = tf.data.Dataset.from_tensor_slices((view1, view2)).batch(
        GLOBAL_BATCH, drop_remainder=True)

    sync = bool(args.sync_bn)
    with strategy.scope():
        encoder = ResNet18(stem="cifar", width_multiplier=0.125, input_shape=IMAGE_SHAPE,
                           synchronized_bn=sync)
        model = SimCLR(encoder, synchronized_bn=sync, projection_hidden_dims=(32,),
                       projection_dim=16)
        model.build((None, *IMAGE_SHAPE))
        load_or_write_init(model, args.init, args.write_init)
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), jit_compile=False)

    fit_and_save(model, dataset, args.out, STEPS)


if __name__ == "__main__":
    main()
