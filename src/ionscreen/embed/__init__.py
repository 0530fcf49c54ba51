"""Stage 4, embed (``rules/embed.smk``): fixed-length vectors for the models.

- ``graph``: embedding variants, the standard frame and SevenNet's input graph;
- ``firstblock``: SevenNet-0's first interaction block, fast and exact;
- ``structure``: per-Li structure embeddings (``SevenNetEmbedder``) and their table;
- ``trajectory``: MOMENT time-series embeddings of trajectories.
"""
