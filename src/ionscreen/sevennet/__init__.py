"""SevenNet in plain code, below everything that runs it (``md``, ``embed``, ``mlip``): it imports
nothing else of ionscreen.

- ``checkpoint``: which file a model name means, its configuration without torch, the stored
  dict, sevenn's checkpoint object (``load_checkpoint``), the model up to a layer;
- ``graph``: SevenNet's input graph as numpy arrays (graph keys, frames), without sevenn or torch;
- ``firstblock``: SevenNet-0 to its embedding layer (module 10) in plain torch;
- ``fasttp``: the convolution regrouped, equal to e3nn's, faster on CPUs (MD and the embedder).
"""

FIRST_BLOCK_LAYER = 10  # the layer ``firstblock`` computes (SevenNet-0's embedding layer); here without torch

__all__ = ["FIRST_BLOCK_LAYER"]
