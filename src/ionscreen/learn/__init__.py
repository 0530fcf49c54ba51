"""Stage 5, train (``rules/train.smk``): the auxiliary-modality models and how they are judged.

numpy only:
- ``folds``: grouped splits and folds;
- ``skill``: held-out skill against the mean and the baseline forest;
- ``metrics``: regression metrics and per-split tables;
- ``meta``: ``model.json`` of a workflow model (``ModelMeta``);
- ``trainset``: the training table from workflow and external labels.

torch, read in this order:
- ``config``: ``TrainConfig``, every knob and why;
- ``dataset``: tensors of embeddings, labels and trajectories;
- ``model``: the dual-modal trainer and the structure-only predictor, the loss, checkpoints;
- ``routes``: the visible training loop (``fit``) and the steps of each route;
- ``train``: the whole run, per seed, and the model folder;
- ``evaluate``: grouped cross-validation and ablations against the baselines.
"""
