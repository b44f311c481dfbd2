"""The App & Integration engine: the WhatsApp apps a workspace installed, and their credentials."""
