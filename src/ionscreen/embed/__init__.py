"""Stage 4, embed (``rules/embed.smk``): fixed-length vectors for the models.

- ``graph``: embedding variants and engines, and which engine runs (``default_engine``);
- ``structure``: per-Li structure embeddings (``SevenNetEmbedder``) and their table;
- ``trajectory``: MOMENT time-series embeddings of trajectories.

SevenNet itself (checkpoints, the input graph, the first block in plain torch, the fast
convolution) is ``ionscreen.sevennet``.
"""
