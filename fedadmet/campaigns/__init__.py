"""Lab-in-the-loop campaigns: a candidate pool, an objective, surrogates refitted on the campaign's own
measurements and acquisition strategies (registered by name) that pick what the lab makes and tests next.

This room holds the decisions only; recording rounds, picks and measurements is the workflows' job
(:mod:`fedadmet.workflows.campaigns`), so that it never imports the registry or an entry point.
"""
