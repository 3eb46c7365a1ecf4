"""Operations on a whole store: backup, export and import."""
