"""Reports: each report's figures computed in the database, its page, chart and CSV."""
