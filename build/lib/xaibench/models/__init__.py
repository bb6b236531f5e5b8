"""Models: architectures by name (`nets`, `custom`), the train-once cache (`zoo`) and batched
predictions (`predict`)."""

from xaibench.models import custom, nets  # noqa: F401  (register the architectures)
from xaibench.models.predict import accuracy, predict_classes
from xaibench.models.registry import MODEL_DATA, MODELS, ModelInfo, register_model
from xaibench.models.zoo import ModelSpec, TrainConfig, TrainedModel, get_model

__all__ = [
    "MODELS",
    "MODEL_DATA",
    "ModelInfo",
    "ModelSpec",
    "TrainConfig",
    "TrainedModel",
    "accuracy",
    "get_model",
    "predict_classes",
    "register_model",
]
