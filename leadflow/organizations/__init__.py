"""Organizations: the companies leads work at — their model, pages and services."""
