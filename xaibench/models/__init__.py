"""Models: architectures by name (`nets`, `custom`) and the train-once cache (`zoo`)."""

from xaibench.models import custom, nets  # noqa: F401  (register the architectures)
from xaibench.models.registry import MODEL_DATA, MODELS, ModelInfo, register_model
from xaibench.models.zoo import TrainConfig, TrainedModel, accuracy, get_model

__all__ = [
    "MODELS",
    "MODEL_DATA",
    "ModelInfo",
    "TrainConfig",
    "TrainedModel",
    "accuracy",
    "get_model",
    "register_model",
]
