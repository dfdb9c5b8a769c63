"""Training: the run configuration, the Lightning module, checkpoints and the training run."""
