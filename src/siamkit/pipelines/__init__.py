"""Pipelines: the orchestration above the libraries.

A training run (split, loaders, trainer, threshold calibration, model folder), the end-of-training
evaluation, an evaluation run of a model folder, and sweeps. The libraries below (data, sampling,
models, losses, evaluation metrics, search, inference) never import this package; the
import-linter contract in pyproject.toml keeps it that way.
"""
