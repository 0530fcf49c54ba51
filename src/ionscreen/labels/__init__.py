"""Stage 3, label (``rules/label.smk``): transport figures from trajectories.

- ``diffusion``: MSD and diffusivity with credible intervals (kinisi) of one trajectory;
- ``stage``: label rows and failures, ladder bounds, Arrhenius rows, the stage's entry (``label_files``);
- ``transport``: Nernst-Einstein conductivity and Arrhenius fits (units in the names);
- ``bounds``: upper bounds on D for runs without enough hops;
- ``walks``: synthetic lattice walks with a known D (tests and benchmarks).

It reads trajectories only (``ionscreen.trajectory``), so MD can ask it whether a label is known.
"""
