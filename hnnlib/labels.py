"""Names, once: the model kinds, their labels in figures and tables, and the energy functions of the metric."""

from __future__ import annotations

from typing import Mapping, TypeVar

T = TypeVar("T")

#: Labels of the three curves of every figure.
GROUND_TRUTH, BASELINE, HNN_LABEL = "ground truth", "baseline NN", "Hamiltonian NN"

#: The two models every task trains, in this order (the keys of every per-model dict).
MODEL_KINDS: tuple[str, ...] = ("baseline", "hnn")

#: Each model kind's label.
MODEL_LABELS: dict[str, str] = {"baseline": BASELINE, "hnn": HNN_LABEL}

#: The energy functions an experiment's metric may use, and their labels.
ENERGY_LABELS: dict[str, str] = {
    "hamiltonian": "true H",
    "q2_plus_p2": "q^2 + p^2",
    "fitted_pendulum": "2.4(1 - cos q) + p^2",
    "pixels": "E read from pixels",
}


def check_model_kind(kind: object) -> str:
    """Return ``kind`` if it is one of :data:`MODEL_KINDS`, else raise a ValueError listing them."""
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {MODEL_KINDS}")
    return kind  # type: ignore[return-value]


def by_kind(by_label: Mapping[str, T]) -> dict[str, T]:
    """Re-key a dict from the models' labels (as in figures) to their kinds (as in tables), in :data:`MODEL_KINDS` order."""
    missing = [MODEL_LABELS[kind] for kind in MODEL_KINDS if MODEL_LABELS[kind] not in by_label]
    if missing:
        raise KeyError(f"no entry for {missing}; expected the labels {list(MODEL_LABELS.values())}")
    return {kind: by_label[MODEL_LABELS[kind]] for kind in MODEL_KINDS}


def by_label(keyed_by_kind: Mapping[str, T]) -> dict[str, T]:
    """Re-key a dict from the models' kinds (``"baseline"``, ``"hnn"``) to their labels, in :data:`MODEL_KINDS` order."""
    missing = [kind for kind in MODEL_KINDS if kind not in keyed_by_kind]
    if missing:
        raise KeyError(f"no entry for {missing}; expected the kinds {list(MODEL_KINDS)}")
    return {MODEL_LABELS[kind]: keyed_by_kind[kind] for kind in MODEL_KINDS}
