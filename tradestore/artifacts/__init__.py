"""ML artifacts: the file catalog (ArtifactManager) and its backups."""
