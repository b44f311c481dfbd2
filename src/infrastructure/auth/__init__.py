"""Portal authentication: bearer JWTs checked with a shared secret or a JWKS endpoint."""
