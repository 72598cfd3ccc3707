"""HTTP blueprints: accounts, chat and health."""
