"""MoCo v3 on a ResNet (Chen, Xie & He 2021, "An Empirical Study of Training Self-Supervised Vision
Transformers"; the ViT variant comes with the ViT encoder)."""

import keras

from keras_ssl import config_checks
from keras_ssl.losses import mocov3_loss
from keras_ssl.methods import registry
from keras_ssl.methods.byol import (BYOL, BYOL_AUGMENT, byol_views, check_byol_views,
                                    momentum_schedule_length)


@keras.saving.register_keras_serializable(package="keras_ssl")
class MoCoV3(BYOL):
    """MoCo v3: queries predicted from two views contrasted with a momentum encoder's keys of the
    same global batch, no queue (the paper's Algorithm 1).

    BYOL's networks and schedule with a contrastive loss. Trained with `model.fit` on a dataset
    yielding `(view1, view2)` float batches (BYOL's asymmetric pair, as the authors'
    `main_moco.py`). Each step:

    - queries q = h(g(f(view))) from the encoder f, projector g and predictor h, each view through
      the networks as its own batch (as the authors' `forward`);
    - keys k = g_k(f_k(view)) from the momentum copies of f and g (`model.target_network`),
      without gradient;
    - loss `mocov3_loss`: 2 t [ctr(q1, k2) + ctr(q2, k1)], each query against the keys of the
      whole global batch (gathered from every replica; the positive is its own image's key);
    - after the optimizer step, every momentum weight (BN moving statistics included) moves to
      m_k * key + (1 - m_k) * online, m_k rising from `base_momentum` (0.99) to 1 on a cosine
      over the run's `total_steps` (`keras_ssl.layers.cosine_momentum`; the authors'
      `--moco-m-cos`, per iteration). The authors update the momentum encoder at the start of a
      step, before computing its keys; here at the end of the step before: the same sequence of
      weights.

    Heads (the authors' `MoCo_ResNet`): projector Linear(4096) - BN - ReLU - Linear(256) - BN
    (without scale and shift, their `last_bn`), predictor Linear(4096) - BN - ReLU - Linear(256).
    The authors' linear layers have no bias; here the predictor's output layer keeps one. Batch
    norm is synchronised over all replicas in the authors' code (`SyncBatchNorm`): the paper-scale
    recipe sets `synchronized_bn` in the encoder and the heads.

    Temperature: the authors' code runs ResNet-50 with its default t = 1.0 (`--moco-t`, which
    CONFIG.md's ResNet-50 commands leave); 0.2 is their ViT setting (`--moco-t=.2`).

    Logs `embedding_std` (`keras_ssl.losses.embedding_std`) of the online projections g(f(view)):
    near 0 when the representation collapses. `model(images)` and `model.encoder` are the online
    encoder, the one to evaluate and export.

    Args:
        encoder: a Keras model mapping images to features.
        projection_hidden_dims, projection_dim: the projector (4096, 256).
        prediction_hidden_dims: the predictor's hidden widths (4096); its output is
            projection_dim.
        temperature: t (1.0 for ResNet).
        base_momentum: the momentum at step 0 (0.99).
        total_steps: length of the cosine schedule; None keeps the momentum at base_momentum.
        synchronized_bn: batch norm of the heads over all replicas.

    Example:
    ```python
    model = keras_ssl.methods.MoCoV3(keras_ssl.encoders.ResNet50(stem="imagenet"),
                                     total_steps=epochs * steps_per_epoch)
    model.compile(optimizer=keras_ssl.optim.LARS(schedule, weight_decay=1e-6))
    model.fit(dataset, epochs=epochs)
    ```
    """

    metric_names = ("loss", "contrastive_accuracy", "target_momentum", "embedding_std")
    _projector_output_batch_norm = True

    def __init__(self, encoder, projection_hidden_dims=(4096,), projection_dim=256,
                 prediction_hidden_dims=(4096,), temperature=1.0, base_momentum=0.99,
                 total_steps=None, synchronized_bn=False, **kwargs):
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature!r}.")
        super().__init__(encoder, projection_hidden_dims, projection_dim, prediction_hidden_dims,
                         base_momentum, total_steps, synchronized_bn, **kwargs)
        self.temperature = temperature

    def compute_objective(self, data, training):
        (q1, q2), (k1, k2), metrics = self._forward(data, training)
        loss, accuracy = mocov3_loss(q1, q2, k1, k2, self.temperature)
        return loss, {"contrastive_accuracy": accuracy, **metrics}

    def get_config(self):
        config = super().get_config()
        config["temperature"] = self.temperature
        return config


def _checks(config):
    m = config.model
    config_checks.positive_int("model.projection_dim", m.projection_dim)
    config_checks.positive("model.temperature", m.temperature)
    config_checks.check(0 <= m.base_momentum <= 1, "model.base_momentum", m.base_momentum,
                        "a number in [0, 1]")
    config_checks.same_synchronized_bn(config)
    check_byol_views(config)


registry.register(
    "mocov3", MoCoV3,
    # The authors' MoCo_ResNet and main_moco.py defaults (--moco-dim 256, --moco-mlp-dim 4096,
    # --moco-t 1.0, --moco-m 0.99 with --moco-m-cos as in CONFIG.md).
    model=dict(projection_hidden_dims=(4096,), projection_dim=256, prediction_hidden_dims=(4096,),
               temperature=1.0, base_momentum=0.99, synchronized_bn=False),
    # main_moco.py: BYOL's asymmetric augmentation (crop 8-100%; CONFIG.md's ResNet runs: 20%).
    augment=BYOL_AUGMENT, views=byol_views, checks=_checks, run_arguments=momentum_schedule_length)
