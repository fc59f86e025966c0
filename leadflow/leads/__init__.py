"""Leads: their model, the lead store, events, lead pages and lead alerts.

Nothing is imported here, so importing a model or a service of this package loads no pages
(the app factory imports the blueprint from ``views``)."""
