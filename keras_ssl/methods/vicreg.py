"""VICReg (Bardes, Ponce & LeCun 2022, "VICReg: Variance-Invariance-Covariance Regularization for
Self-Supervised Learning")."""

import keras

from keras_ssl import config_checks
from keras_ssl.losses import vicreg_loss
from keras_ssl.methods import registry
from keras_ssl.methods.byol import byol_views
from keras_ssl.methods.projected_pair import PAIR_AUGMENT, ProjectedPair, projected_pair_checks


@keras.saving.register_keras_serializable(package="keras_ssl")
class VICReg(ProjectedPair):
    """VICReg: invariance between two views' embeddings, with each embedding's variance kept up and
    its dimensions decorrelated.

    Trained with `model.fit` on a dataset yielding `(view1, view2)` float batches (BYOL's
    asymmetric pair, `keras_ssl.methods.byol.byol_views`, as the authors' `augmentations.py`). Each
    step (section 3): z = g(f(x)) for each view, then `keras_ssl.losses.vicreg_loss` on the GLOBAL
    batch (gathered across replicas): 25 x invariance + 25 x variance (gamma 1, epsilon 1e-4) +
    1 x covariance (section 4.1, eq. 6; the authors' `main_vicreg.py` defaults).

    Projector 8192-8192-8192 (section 4.1): Linear - BN - ReLU twice, then a Linear without bias
    (the authors' `Projector`). Trained with LARS (batch 2048, 1000 epochs, base learning rate 0.2
    x batch / 256, 10 warm-up epochs then cosine decay, weight decay 1e-6, biases and batch norm
    excluded: appendix C.1). The paper's schedule ends at 1/1000 of the peak; this library's ends
    at 0.

    Logs the three unweighted terms `invariance`, `variance`, `covariance` and `embedding_std`.

    Args:
        encoder: a Keras model mapping images to features.
        projection_hidden_dims, projection_dim: the projector ((8192, 8192), 8192).
        invariance_weight, variance_weight, covariance_weight: lambda, mu, nu (25, 25, 1).
        gamma: the target standard deviation (1); epsilon: the variance's stabiliser (1e-4).
        synchronized_bn: batch norm of the projector over all replicas.

    Example:
    ```python
    model = keras_ssl.methods.VICReg(keras_ssl.encoders.ResNet50(stem="imagenet"))
    model.compile(optimizer=keras_ssl.optim.LARS(schedule, weight_decay=1e-6))
    model.fit(dataset, epochs=1000)
    ```
    """

    metric_names = ("loss", "invariance", "variance", "covariance", "embedding_std")

    def __init__(self, encoder, projection_hidden_dims=(8192, 8192), projection_dim=8192,
                 invariance_weight=25.0, variance_weight=25.0, covariance_weight=1.0, gamma=1.0,
                 epsilon=1e-4, synchronized_bn=False, **kwargs):
        super().__init__(encoder, projection_hidden_dims, projection_dim, synchronized_bn,
                         **kwargs)
        self.invariance_weight = invariance_weight
        self.variance_weight = variance_weight
        self.covariance_weight = covariance_weight
        self.gamma = gamma
        self.epsilon = epsilon

    def pair_loss(self, z1, z2):
        loss, invariance, variance, covariance = vicreg_loss(
            z1, z2, self.invariance_weight, self.variance_weight, self.covariance_weight,
            self.gamma, self.epsilon)
        return loss, {"invariance": invariance, "variance": variance, "covariance": covariance}

    def get_config(self):
        config = super().get_config()
        config.update(invariance_weight=self.invariance_weight,
                      variance_weight=self.variance_weight,
                      covariance_weight=self.covariance_weight, gamma=self.gamma,
                      epsilon=self.epsilon)
        return config


def _checks(config):
    m = config.model
    projected_pair_checks(config)
    for key in ("invariance_weight", "variance_weight", "covariance_weight"):
        config_checks.check(m[key] >= 0, f"model.{key}", m[key], "a number >= 0")
    config_checks.positive("model.gamma", m.gamma)
    config_checks.positive("model.epsilon", m.epsilon)


registry.register(
    "vicreg", VICReg,
    model=dict(projection_hidden_dims=(8192, 8192), projection_dim=8192, invariance_weight=25.0,
               variance_weight=25.0, covariance_weight=1.0, gamma=1.0, epsilon=1e-4,
               synchronized_bn=False),
    augment=dict(PAIR_AUGMENT), views=byol_views, checks=_checks)
