"""Design room: objectives, scoring over a profile, generators and the agent loop.

It knows neither models nor the registry: the profile function and the trail recorder are handed in
(:mod:`fedadmet.workflows.design` does that)."""
