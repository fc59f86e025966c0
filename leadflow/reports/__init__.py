"""Reports (``/reports``): each a plain compute function over the leads a viewer may see, a
page with a chart and its table, and a CSV of the same figures. ``filters`` parses a report's
filters and gives its lead scope, ``charts`` draws SVG, ``registry`` lists the reports, ``views``
serves them."""
