"""SimSiam on CIFAR-10 at the SimCLR quickstart's size and budget (same encoder, about 5 minutes of
pretraining on a 2-core CPU, 8 epochs).

SimSiam's algorithm (stop-gradient, symmetric negative cosine, predictor at a fixed learning rate)
with the paper's CIFAR-10 shape (appendix D): a 2-layer projector with batch norm on its output,
here 512-wide for the 128-d features of the 1/4-width encoder, and a predictor bottleneck of 1/4 of
it (128, as the paper's 512 of 2048). MoCo v2's augmentation without blur at 32x32 and crops of
20-100%; SGD with momentum and weight decay 5e-4 (appendix D) at 0.3 x batch / 256 after a short
warm-up, ten times the paper's 0.03, for a run of a few epochs.
"""

from keras_ssl.configs.common import cifar10_quickstart


def get_config():
    c = cifar10_quickstart("simsiam")
    c.model.projection_hidden_dims = (512,)
    c.model.projection_dim = 512
    c.model.prediction_hidden_dim = 128
    c.augment.crop_scale = (0.2, 1.0)
    c.augment.blur_probability = 0.0
    c.train.batch_size = 256
    c.train.epochs = 8
    c.train.optimizer = "sgd"
    c.train.base_learning_rate = 0.3
    c.train.learning_rate_scaling = "linear"
    c.train.warmup_epochs = 0.4
    c.train.weight_decay = 5e-4
    c.train.max_minutes = 12.0
    return c
