"""Patient-level toxicity from OMOP CDM records: reader, cohorts, covariates, models, evaluation, a synthetic
oncology generator and the federated task over hospitals."""
