"""Administration: the registry of plan files in force (later: users, roles, catalogs, audit)."""
