"""Train a tiny Barlow Twins, VICReg or SimSiam 3 steps with `model.fit` on N logical CPU devices;
save losses and weights.

    python pair_fit.py --method barlow_twins --devices 2 --init init.weights.h5 --out result.npz

Synchronized batch norm in the encoder and the heads, so that what may differ from one device is
the loss: Barlow Twins' cross-correlation and VICReg's variance / covariance are statistics of the
global batch. SGD on a decaying schedule, so that SimSiam's held predictor rate and Barlow Twins'
scaled bias rate act under the strategy. Output as `common.fit_and_save`.
"""

from common import fit_and_save, fit_argument_parser, load_or_write_init, setup

import keras
import numpy as np
import tensorflow as tf

from keras_ssl import optim
from keras_ssl.encoders import ResNet18
from keras_ssl.methods import BarlowTwins, SimSiam, VICReg

STEPS = 3
GLOBAL_BATCH = 8
IMAGE_SHAPE = (16, 16, 3)
# Barlow Twins' loss, a sum over d^2 entries, has gradients 10x larger: at SGD's 0.005 its stem moves
# by ~1 in 3 steps and float32 rounding differences grow to ~1e-4; LARS (its recipe's) normalises
# them.
PEAK_RATES = {"barlow_twins": 0.0005, "vicreg": 0.005, "simsiam": 0.005}
METHODS = {
    "barlow_twins": lambda encoder: BarlowTwins(encoder, projection_hidden_dims=(32,),
                                                projection_dim=16, synchronized_bn=True),
    "vicreg": lambda encoder: VICReg(encoder, projection_hidden_dims=(32,), projection_dim=16,
                                     synchronized_bn=True),
    "simsiam": lambda encoder: SimSiam(encoder, projection_hidden_dims=(32,), projection_dim=16,
                                       prediction_hidden_dim=8, synchronized_bn=True),
}


def main():
    parser = fit_argument_parser()
    parser.add_argument("--method", choices=sorted(METHODS), required=True)
    args = parser.parse_args()
    strategy = setup(args.devices)

    rng = np.random.default_rng(0)
    view1, view2 = rng.random((2, STEPS * GLOBAL_BATCH, *IMAGE_SHAPE), dtype=np.float32)
    dataset = tf.data.Dataset.from_tensor_slices((view1, view2)).batch(
        GLOBAL_BATCH, drop_remainder=True)

    with strategy.scope():
        encoder = ResNet18(stem="cifar", width_multiplier=0.125, input_shape=IMAGE_SHAPE,
                           synchronized_bn=True)
        model = METHODS[args.method](encoder)
        model.build((None, *IMAGE_SHAPE))
        load_or_write_init(model, args.init, args.write_init)
        schedule = optim.WarmupCosineDecay(PEAK_RATES[args.method], total_steps=STEPS + 1,
                                           warmup_steps=0)
        model.compile(optimizer=keras.optimizers.SGD(schedule, momentum=0.9, weight_decay=1e-3),
                      jit_compile=False)

    fit_and_save(model, dataset, args.out, STEPS)


if __name__ == "__main__":
    main()
