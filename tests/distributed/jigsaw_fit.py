"""Train a tiny Jigsaw 3 steps with `model.fit` on N logical CPU devices; save losses and weights.

    python jigsaw_fit.py --devices 2 --init init.weights.h5 --out result.npz [--write-init]

Puzzles are made once, before training, by `JigsawTransform` from fixed random images, so every run
sees the same global batches; encoder and heads use synchronized batch norm. `--devices 1` runs
without a strategy (the reference). The output holds `loss` (fit's running mean after each step),
`paths`, and `initial<i>` / `final<i>` (every weight, batch-norm statistics included).
"""

from common import (fit_and_save, fit_argument_parser, load_or_write_init, random_images,
                    setup)

import keras
import tensorflow as tf

from keras_ssl.augment import JigsawTransform
from keras_ssl.encoders import ResNet18
from keras_ssl.methods import Jigsaw

STEPS = 3
GLOBAL_BATCH = 8
IMAGE_SIZE = 32


def main():
    args = fit_argument_parser().parse_args()
    strategy = setup(args.devices)

    images = random_images(STEPS * GLOBAL_BATCH, IMAGE_SIZE)
    puzzles, labels = JigsawTransform(8, 2, 1, num_permutations=10)(
        images, tf.constant([0, 1], tf.int64))
    dataset = tf.data.Dataset.from_tensor_slices((puzzles, labels)).batch(
        GLOBAL_BATCH, drop_remainder=True)

    with strategy.scope():
        encoder = ResNet18(stem="cifar", width_multiplier=0.125, synchronized_bn=True,
                           input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3))
        model = Jigsaw(encoder, num_permutations=10, tile_dim=8, head_hidden_dims=(16,),
                       synchronized_bn=True)
        model.build(puzzles.shape)
        load_or_write_init(model, args.init, args.write_init)
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), jit_compile=False)

    fit_and_save(model, dataset, args.out, STEPS)


if __name__ == "__main__":
    main()
