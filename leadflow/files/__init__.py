"""Files kept in the database, so that any node can serve them (``leadflow.files.store``)."""
