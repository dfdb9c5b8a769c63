"""The training recipes shipped with siamkit: one YAML file of TrainConfig options each.

Data only, so it sits on the ground floor; ``siamkit.training.config`` finds a recipe by name
(``siamkit train DATA --config att-faces``) through :mod:`importlib.resources`, which reads
them from an installed wheel as well as from a checkout. The first comment line of each file is
its one-line description in ``siamkit recipes``.
"""
