"""The exceptions `wasmodel` raises: each says what went wrong and where."""

from __future__ import annotations


class WasmodelError(Exception):
    """Base of every error this package raises."""


class LoadError(WasmodelError):
    """The file cannot be loaded as a model component: it is not one, it was
    built by another wasmodel version, or it is an HTTP component."""


class PredictError(WasmodelError):
    """`predict` gave no outputs. The subclasses say why."""


class InvalidInputError(PredictError):
    """The caller's inputs do not match the model (the component's
    `invalid-input`): fix the call.

    Attributes:
        kind: what was wrong, as the WIT `input-error-kind` names it:
            ``missing``, ``unknown``, ``duplicate``, ``element-type``,
            ``shape``, ``data-length``, ``empty``, ``too-large`` or
            ``out-of-range``.
        input: the name of the input the problem is about.
        expected: what the model declares.
        got: what was given.
    """

    def __init__(self, kind: str, input: str, expected: str, got: str):
        self.kind = kind
        self.input = input
        self.expected = expected
        self.got = got
        super().__init__(f"input {input!r}: {kind}: expected {expected}, got {got}")


class UnsupportedError(PredictError):
    """The model needs something the engine does not support."""


class InternalError(PredictError):
    """A fault of the engine itself: please report it."""


class ModelTrap(PredictError):
    """The component stopped: it ran out of memory or time, or trapped.

    The instance it ran in is dropped; the next `predict` gets a fresh one.
    """
