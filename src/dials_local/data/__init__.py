"""The synthetic data set, the ML scorer, OMS records and ingest of dials-local."""
