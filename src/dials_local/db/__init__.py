"""Storage: the schema (``schema``) and where each workspace's tables live (``engines``)."""
