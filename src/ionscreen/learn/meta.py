"""``model.json`` of a workflow model (numpy only): what the checkpoint predicts, how it was trained,
its embedding and its held-out skill. Readers of a model's description (the report, the ranking)
need no torch."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

CHECKPOINT_FORMAT = "ionscreen-predictor-1"


TRAINER_FORMAT = "ionscreen-trainer-1"


@dataclass
class ModelMeta:
    """The model card of a trained predictor: stored in ``model.pt`` and as ``model.json``.

    Units: temperatures in K, ``y_mean``/``y_std`` and ``far_threshold`` in the units of the
    standardised log10 target and of the hidden space; ``train_seconds`` in s."""

    target_column: str  # labels column the model predicts, e.g. msd_final_A2, D_cm2_s, sigma_S_cm
    target: str  # "log10_" + target_column: what the predictions hold
    route: str  # aml, structure-only or transfer (train.route)
    architecture: dict[str, Any]  # in_dim, hidden_dim, decoder_widths (+ traj_dim for trainers)
    poly_expansion: bool  # features [e, e^2, e^3] (True) or e alone
    y_mean: float  # log10 target standardisation of the training samples
    y_std: float
    training_elements: list[str]
    temperature_range_K: list[float]  # [lowest, highest] training temperature
    training_materials: list[str]
    far_threshold: float  # hidden-space distance above which a candidate is far_from_training
    config: dict[str, Any] = field(default_factory=dict)  # the TrainConfig, as a dict
    embedding: dict[str, Any] = field(default_factory=dict)  # model, layer, variant, frame of the SevenNet embeddings
    skill: dict[str, Any] = field(
        default_factory=dict
    )  # held-out figures next to the baselines (ionscreen.learn.skill)
    trajectory_embedder: str | None = None
    device: str = "cpu"
    history: list[dict[str, Any]] = field(default_factory=list)  # one entry per training loop
    train_seconds: float = 0.0
    version: str = ""  # package version that trained it (provenance only)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelMeta:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    @classmethod
    def of_model(cls, model_dir: str | Path) -> ModelMeta | None:
        """The metadata of a workflow model folder from its ``model.json``, without torch; None
        when only ``model.pt`` is there (its checkpoint holds the metadata too).
        FileNotFoundError when the folder has no ``model.pt``."""
        model_dir = checkpoint_path(model_dir).parent
        return cls.from_json(model_dir) if (model_dir / "model.json").is_file() else None

    @classmethod
    def from_json(cls, path: str | Path) -> ModelMeta:
        """The metadata of a model directory (its ``model.json``) or of a ``model.json`` path."""
        path = Path(path)
        return cls.from_dict(json.loads((path / "model.json" if path.is_dir() else path).read_text()))


def checkpoint_path(model_dir: str | Path) -> Path:
    """``model.pt`` of a workflow model folder; FileNotFoundError saying how to get one when it is missing."""
    path = Path(model_dir) / "model.pt"
    if not path.is_file():
        raise FileNotFoundError(f"no model.pt in {model_dir}: train a model first (rule train)")
    return path
