"""Train a tiny Context Encoder 3 steps with `model.fit` on N logical CPU devices; save losses and
weights.

    python context_encoder_fit.py --devices 2 --init init.weights.h5 --out result.npz [--write-init]

Random-block masks are made once, before training, from fixed random images, so every run sees the
same global batches, whose holes cover a different area on each replica (the masked L2's divisor
must be the global batch's). Encoder, decoder and discriminator use synchronized batch norm; both
optimizers step (SGD for the generator, the discriminator's own Adam). `--devices 1` runs without a
strategy (the reference). Output as `common.fit_and_save` writes it.
"""

from common import (fit_and_save, fit_argument_parser, load_or_write_init, random_images,
                    setup)

import keras
import tensorflow as tf

from keras_ssl.augment import InpaintingTransform
from keras_ssl.encoders import ResNet18
from keras_ssl.methods import ContextEncoder

STEPS = 3
GLOBAL_BATCH = 8
IMAGE_SIZE = 32


def main():
    args = fit_argument_parser().parse_args()
    strategy = setup(args.devices)

    images = random_images(STEPS * GLOBAL_BATCH, IMAGE_SIZE)
    batches = InpaintingTransform("blocks", num_blocks=3)(images, tf.constant([0, 1], tf.int64))
    dataset = tf.data.Dataset.from_tensor_slices(batches).batch(GLOBAL_BATCH, drop_remainder=True)

    with strategy.scope():
        encoder = ResNet18(stem="cifar", width_multiplier=0.125, synchronized_bn=True,
                           input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3))
        model = ContextEncoder(encoder, decoder_filters=(16, 8), discriminator_filters=(8, 16),
                               adversarial_weight=0.5, reconstruction_weight=0.5,
                               discriminator_learning_rate=1e-3, synchronized_bn=True)
        model.build((None, IMAGE_SIZE, IMAGE_SIZE, 3))
        load_or_write_init(model, args.init, args.write_init)
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), jit_compile=False)
    fit_and_save(model, dataset, args.out, STEPS)


if __name__ == "__main__":
    main()
