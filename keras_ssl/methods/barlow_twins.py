"""Barlow Twins (Zbontar et al. 2021, "Barlow Twins: Self-Supervised Learning via Redundancy
Reduction")."""

import keras

from keras_ssl import config_checks, optim
from keras_ssl.losses import barlow_twins_loss
from keras_ssl.methods import registry
from keras_ssl.methods.byol import byol_views
from keras_ssl.methods.projected_pair import PAIR_AUGMENT, ProjectedPair, projected_pair_checks


@keras.saving.register_keras_serializable(package="keras_ssl")
class BarlowTwins(ProjectedPair):
    """Barlow Twins: the cross-correlation of two views' embeddings is pushed to the identity.

    Trained with `model.fit` on a dataset yielding `(view1, view2)` float batches (BYOL's
    asymmetric pair, `keras_ssl.methods.byol.byol_views`). Each step (section 2, Algorithm 1):
    z = g(f(x)) for each view, then `keras_ssl.losses.barlow_twins_loss`: each dimension
    standardised over the GLOBAL batch and C = z1n^T z2n / N, loss sum_i (1 - C_ii)^2 + lambd
    sum_{i != j} C_ij^2 (the embeddings are gathered across replicas, so 2 replicas compute what
    one device does on their global batch).

    Projector 8192-8192-8192 (section 4 "Implementation details", figure 4): Linear - BN - ReLU
    twice, then a Linear without bias (the authors' `main.py`). Trained with LARS (batch 2048, 1000
    epochs, learning rate 0.2 x batch / 256 for weights, weight decay 1.5e-6, biases and batch norm
    excluded from decay and adaptation: `keras_ssl.optim.LARS`'s default), and biases and batch
    norm at 0.0048 / 0.2 of the weights' rate (the paper's 0.0048 x batch / 256;
    `--learning-rate-biases` of the authors' `main.py`): `compile` sets it on any optimizer with
    `keras_ssl.optim.scale_learning_rate_of`. Their rule picks every 1-d variable.

    Logs the unweighted sums `on_diagonal` and `off_diagonal` and `embedding_std`.

    Args:
        encoder: a Keras model mapping images to features.
        projection_hidden_dims, projection_dim: the projector ((8192, 8192), 8192).
        lambd: the off-diagonal weight, 5e-3 for 8192-d (section 4; the authors' code: 0.0051).
            Keep lambd * d about constant for another width (the paper's figure 4 keeps 5e-3).
        bias_learning_rate_scale: the learning rate of biases and batch norm, relative to the
            weights' (0.0048 / 0.2 = 0.024; 1 for one rate).
        synchronized_bn: batch norm of the projector over all replicas.

    Example:
    ```python
    model = keras_ssl.methods.BarlowTwins(keras_ssl.encoders.ResNet50(stem="imagenet"))
    model.compile(optimizer=keras_ssl.optim.LARS(schedule, weight_decay=1.5e-6))
    model.fit(dataset, epochs=1000)
    ```
    """

    metric_names = ("loss", "on_diagonal", "off_diagonal", "embedding_std")

    def __init__(self, encoder, projection_hidden_dims=(8192, 8192), projection_dim=8192,
                 lambd=5e-3, bias_learning_rate_scale=0.0048 / 0.2, synchronized_bn=False,
                 **kwargs):
        super().__init__(encoder, projection_hidden_dims, projection_dim, synchronized_bn,
                         **kwargs)
        self.lambd = lambd
        self.bias_learning_rate_scale = bias_learning_rate_scale

    def compile(self, optimizer="rmsprop", **kwargs):
        super().compile(optimizer=optimizer, **kwargs)
        optim.scale_learning_rate_of(
            self.optimizer, lambda: [v for v in self.trainable_variables if len(v.shape) == 1],
            self.bias_learning_rate_scale)

    def pair_loss(self, z1, z2):
        loss, on_diagonal, off_diagonal = barlow_twins_loss(z1, z2, self.lambd)
        return loss, {"on_diagonal": on_diagonal, "off_diagonal": off_diagonal}

    def get_config(self):
        config = super().get_config()
        config.update(lambd=self.lambd, bias_learning_rate_scale=self.bias_learning_rate_scale)
        return config


def _checks(config):
    projected_pair_checks(config)
    m = config.model
    config_checks.check(m.lambd >= 0, "model.lambd", m.lambd,
                        "a number >= 0 (5e-3 for 8192-d embeddings)")
    config_checks.positive("model.bias_learning_rate_scale", m.bias_learning_rate_scale)


registry.register(
    "barlow_twins", BarlowTwins,
    # Section 4 "Implementation details": 8192-d, lambda 5e-3, biases at 0.0048 / 0.2.
    model=dict(projection_hidden_dims=(8192, 8192), projection_dim=8192, lambd=5e-3,
               bias_learning_rate_scale=0.0048 / 0.2, synchronized_bn=False),
    augment=dict(PAIR_AUGMENT), views=byol_views, checks=_checks)
