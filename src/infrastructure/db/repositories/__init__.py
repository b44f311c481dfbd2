"""SQL repositories: every statement the service runs lives here."""
