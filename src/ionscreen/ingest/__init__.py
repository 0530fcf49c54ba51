"""Trajectories from elsewhere (``rules/ingest.smk``): LiFlow archives and a manifest of trajectory
files, labelled like the workflow's own runs (``liflow``)."""
