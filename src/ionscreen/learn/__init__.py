"""Stage 5, train (``rules/train.smk``): the auxiliary-modality models and how they are judged.

- ``folds``: grouped splits and folds (numpy only);
- ``skill``: held-out skill against the mean and the baseline forest (numpy only);
- ``metrics``: regression metrics and per-split tables (numpy only);
- ``trainset``: the training table from workflow and external labels;
- ``dataset``: tensors of embeddings, labels and trajectories;
- ``model``: the dual-modal trainer and the structure-only predictor, checkpoints;
- ``train``: the training run (``TrainConfig``, a visible loop, early stopping);
- ``evaluate``: grouped cross-validation against the baselines.
"""
