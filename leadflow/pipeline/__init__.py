"""Pipelines and stages: the board, moves between stages, stage totals and settings.

Nothing is imported here, so importing a model or a service of this package loads no pages
(the app factory imports the blueprint from ``views``)."""
