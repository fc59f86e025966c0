"""Activities: the lead timeline, tasks, task reminders and the morning digest.

Nothing is imported here, so importing a model or a service of this package loads no pages
(the app factory imports the blueprint from ``views``)."""
