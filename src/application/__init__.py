"""Use cases and the ports they speak through; no SQL, HTTP, Litestar or Redis here."""
