"""The ``siamkit`` command line: a thin layer over the same functions Python users call."""
