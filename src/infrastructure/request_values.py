"""What a value we did not write (a configured or an installed credential) must be to go out in
an HTTP request: HTTP's rules, not the domain's, checked where the value comes in (the
configuration, the integration engine's answer) so that a bad one is named there, not met as
a refused request (docs/meta.md#the-http-client). It imports nothing: the configuration, which
every command loads, uses it."""

from __future__ import annotations


def fits_a_header(value: str) -> bool:
    """Whether a credential may go out in a header (the access token): printable ASCII
    without a space; a control character would break the request or add a header to it."""
    return value.isascii() and value.isprintable() and " " not in value


def fits_a_path(value: str) -> bool:
    """Whether an id may be one segment of the Graph API's URL path (the phone number id, the
    business account's): as in a header, and no '/', '?', '#' or '%' to send it elsewhere."""
    return fits_a_header(value) and not any(c in value for c in "/?#%")
