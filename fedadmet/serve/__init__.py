"""Serving: REST API, web page and batch jobs over the one prediction code path (``fedadmet.inference``)."""
