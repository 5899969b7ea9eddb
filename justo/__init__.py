"""The JustoAI application on top of the engine: the catalog of its five queues, their
recurring jobs and job types; the app database; the five workers and their providers; the
demo; the ``justo-console`` command line and the admin HTTP API.

It is the composition root: it builds the engine's settings from its catalog, registers
its handlers through the same ``register(registry)`` seam an operator's ``--import`` module
uses, and hands the console a data source and a supervisor.
"""
