"""Models: architectures by name (`nets`, `custom`), the train-once cache (`zoo`) and batched
predictions (`predict`)."""

from xaibench.models import custom, nets, pretrained  # noqa: F401  (register the architectures)
from xaibench.models.predict import accuracy, predict_classes
from xaibench.models.pretrained import Weights
from xaibench.models.registry import (
    MODEL_DATA,
    MODELS,
    ModelInfo,
    check_model_params,
    register_model,
)
from xaibench.models.zoo import (
    ModelSpec,
    TrainConfig,
    TrainedModel,
    get_model,
    model_weights,
    train_config,
)

__all__ = [
    "MODELS",
    "MODEL_DATA",
    "ModelInfo",
    "ModelSpec",
    "TrainConfig",
    "TrainedModel",
    "Weights",
    "accuracy",
    "check_model_params",
    "get_model",
    "model_weights",
    "predict_classes",
    "register_model",
    "train_config",
]
