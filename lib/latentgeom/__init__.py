"""latentgeom (being assembled: the public API is exported here once its modules land)."""
