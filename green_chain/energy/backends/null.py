"""The null backend (re-exported): used when nothing can be measured."""

from green_chain.energy.backends.base import NullBackend

__all__ = ["NullBackend"]
