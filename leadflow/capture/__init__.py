"""Capture forms: public forms that create leads, and their builder.

Nothing is imported here, so importing a model or a service of this package loads no pages
(the app factory imports the blueprint from ``views``)."""
