"""Accounts: users, teams, sign-in, and each user's time zone.

Nothing is imported here, so importing a model or a service of this package loads no pages
(the app factory imports the blueprint from ``views``)."""
