"""``TrainConfig``: every knob of training (``train:`` in the config), with the AML paper's value and
why. Step 1 of reading the training code; ``learn.routes`` and ``learn.train`` follow."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TrainConfig:
    # Which label column is the target; the model always learns log10 of it.
    target: str = "msd_final_A2"
    # d_h = 8 in the AML paper: a narrow bottleneck regularises the 2935-d input.
    hidden_dim: int = 8
    # The paper's decoder is 3 x 4000 (ReLU); small data and CPU demos want far less.
    decoder_widths: list[int] = field(default_factory=lambda: [4000, 4000, 4000])
    # Cubic expansion [e, e^2, e^3] of the embedding (ablation switch: false = e only).
    poly_expansion: bool = True
    # Upper bounds train as censored targets: a non-diffusive MD run's D_upper / sigma_upper, a
    # measured "<1E-10". Only a prediction above the bound costs (hinge), so slow conductors stay
    # in the data instead of biasing it toward fast ones. Metrics use exact labels only.
    censored: bool = True

    # --- Level 1, model-level AML (needs trajectory embeddings of the training set).
    # false = the "no AML" ablation: f1 trained from scratch on structures.
    aml: bool = True
    # closed_form (ridge, the paper's method) or distillation (gradient descent on the same
    # hidden-state target: the paper's weaker alternative, an ablation).
    init: str = "closed_form"
    # Weight of the structure-only term in g's loss; 0 = the "no alpha" ablation.
    alpha: float = 1.0
    trainer_lr: float = 1e-3
    trainer_epochs: int = 50
    # Ridge lambda, relative to mean(diag(X^T X)); the paper finds MAE flat over 1e-7..1e-3.
    ridge_lambda: float = 1e-5
    distill_lr: float = 1e-3
    distill_epochs: int = 200
    # Fine-tuning f1 without trajectories: a small lr keeps the closed-form solution close.
    finetune_lr: float = 1e-5
    finetune_epochs: int = 50

    # --- f1 from scratch (no AML, or a data set without trajectories).
    lr: float = 1e-3
    weight_decay: float = 0.0
    epochs: int = 200

    # --- Level 2, data-level transfer from a trajectory-trained model directory.
    transfer_from: str | None = None
    # Encoder from g's E_x learns fast; the decoder from f1 barely moves, its last layers least.
    transfer_lr_encoder: float = 1e-2
    transfer_lr_decoder: list[float] = field(default_factory=lambda: [1e-4, 1e-4, 1e-6, 1e-6])
    # Exponential lr decay per epoch: 0.999 over 1000 epochs on OBELiX, 0.99 over 100 on a D set.
    transfer_decay: float = 0.999
    transfer_epochs: int = 1000

    # Early stopping: epochs without a better validation MAE before a loop stops.
    patience: int = 30
    # Materials per optimiser step (the paper uses 1 material with all its temperatures).
    batch_materials: int = 1
    # One model per seed; their spread is the prediction_std, and metrics report mean +- std.
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    # Fractions of reduced compositions held out; the test part is never used for any choice.
    val_fraction: float = 0.2
    test_fraction: float = 0.0
    split_seed: int = 0
    # Hidden-space distance quantile (on validation, else training) that marks far_from_training.
    far_quantile: float = 0.95
    # auto = cuda when a GPU is visible (the 3 x 4000 decoder is ~170x the cost of 3 x 64 on a CPU).
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.init not in ("closed_form", "distillation"):
            raise ValueError(f"train.init must be closed_form or distillation, not {self.init!r}")
