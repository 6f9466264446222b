"""Model adapters: every model is scored through the small `ModelAdapter` protocol."""

from adapters.base import ADAPTERS, ModelAdapter, load_adapter

__all__ = ["ADAPTERS", "ModelAdapter", "load_adapter"]
