"""Scoring: rules that score leads, and rescoring.

Nothing is imported here, so importing a model or a service of this package loads no pages
(the app factory imports the blueprint from ``views``)."""
