"""SavedModel export of pre-trained encoders (serving and fine-tuning)."""

from keras_ssl.export.saved_model import export_encoder

__all__ = ["export_encoder"]
