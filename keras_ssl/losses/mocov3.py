"""MoCo v3's symmetrised contrastive loss (Chen, Xie & He 2021, "An Empirical Study of Training
Self-Supervised Vision Transformers", Algorithm 1)."""

from keras_ssl.losses.info_nce import batch_info_nce


def mocov3_loss(q1, q2, k1, k2, temperature=1.0):
    """ctr(q1, k2) + ctr(q2, k1), each InfoNCE of the queries against the momentum keys of the
    whole global batch (`batch_info_nce`), scaled by 2 t.

    The 2 t factor is the authors' code's (moco-v3 `moco/builder.py`, `contrastive_loss`): it makes
    the gradient's size independent of the temperature; the paper's Algorithm 1 leaves it out.

    Args:
        q1, q2: this replica's predictions of views 1 and 2 by the trained network, [n, d].
        k1, k2: the momentum network's projections of the same views, [n, d] (no gradient).
        temperature: t (1.0 for ResNet in the authors' code; 0.2 for ViT).
    Returns:
        (loss, accuracy): this replica's loss (the mean over replicas is the one-device loss on
        the global batch) and the fraction of its 2n queries whose key has the largest logit.
    """
    loss1, accuracy1 = batch_info_nce(q1, k2, temperature)
    loss2, accuracy2 = batch_info_nce(q2, k1, temperature)
    return 2.0 * temperature * (loss1 + loss2), 0.5 * (accuracy1 + accuracy2)
