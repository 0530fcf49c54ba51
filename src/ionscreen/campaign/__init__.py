"""Active campaigns: the workflow chooses what to simulate next.

Round r trains a surrogate on every label so far (the initial training set plus the picks of
rounds before r), predicts the pool (candidates not yet labelled), picks ``campaign.picks``
materials by an acquisition and labels them with an oracle (the workflow's own MD, or a table).

Modules: ``acquire`` (settings, acquisitions, the diversity step), ``surrogate`` (the tree
ensemble with a standard deviation calibrated on held-out data), ``replay`` (a campaign on a
table of known labels, no MD: the benchmark and the ``table`` oracle's logic), ``stage`` (the
workflow's round, label and summary jobs).
"""
