"""Reports: each figure an aggregate in the database, over the leads the viewer may see."""
