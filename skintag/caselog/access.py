"""Who may open the pages that show the case log (Worklist, Monitoring): a pure decision from the request, so it can
be tested without a server.

Rule: a request from this machine (a loopback client address and a loopback ``Host``, and no proxy header naming
another client) may open them without signing in. Any other request needs a signed-in user, through Streamlit's
built-in OIDC login (``st.login``, configured in ``.streamlit/secrets.toml`` under ``[auth]``); when sign-in is not
configured, the pages say so and stay closed to it. A run with no HTTP request at all (``AppTest``, a bare script) has
no remote party and counts as local.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

#: Headers a reverse proxy uses to pass on the real client address as a plain list (``Forwarded: for=…`` is parsed
#: apart).
ADDRESS_HEADERS = ("x-forwarded-for", "x-real-ip")
LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True)
class Access:
    """The decision for one request: ``allowed``; ``local`` (the request came from this machine); ``needs_login``
    (offer the sign-in button); ``reason`` in words for the page."""

    allowed: bool
    local: bool
    needs_login: bool
    reason: str


def _is_loopback_address(text: str) -> bool:
    text = text.strip().strip('"').strip()
    if text.startswith("[") and "]" in text:  # [::1]:port
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # 127.0.0.1:port
        text = text.split(":")[0]
    if text.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False


def _forwarded_clients(headers: Mapping[str, str]) -> list[str]:
    """Client addresses named by proxy headers (``X-Forwarded-For``, ``Forwarded: for=…``, ``X-Real-IP``)."""
    out: list[str] = []
    for name, value in headers.items():
        key = name.lower()
        if key in ADDRESS_HEADERS:
            out += [v for v in str(value).split(",") if v.strip()]
        elif key == "forwarded":
            for part in str(value).replace(",", ";").split(";"):
                k, _, v = part.strip().partition("=")
                if k.lower() == "for" and v:
                    out.append(v)
    return out


def _host_name(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.index("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_local_request(ip_address: str | None, headers: Mapping[str, str] | None) -> tuple[bool, str]:
    """Whether a request came from this machine, and why (``st.context.ip_address`` is None for a loopback client;
    ``headers`` are ``st.context.headers``)."""
    headers = dict(headers or {})
    if ip_address is None and not headers:
        return True, "no web request (the page runs inside this process)"
    if ip_address is not None and not _is_loopback_address(ip_address):
        return False, f"the request comes from {ip_address}, not from this machine"
    remote = [c for c in _forwarded_clients(headers) if not _is_loopback_address(c)]
    if remote:
        return False, f"the request was forwarded by a proxy for {remote[0].strip()}, not from this machine"
    host = next((v for k, v in headers.items() if k.lower() == "host"), None)
    if host is not None and _host_name(host) not in LOCAL_NAMES and not _host_name(host).endswith(".localhost"):
        return False, f"the app is addressed as {host!r}, not as localhost"
    return True, "the request comes from this machine (localhost)"


def decide(*, ip_address: str | None, headers: Mapping[str, str] | None, auth_configured: bool,
           logged_in: bool) -> Access:
    """May this request open a case-log page?

    Parameters
    ----------
    ip_address, headers : ``st.context.ip_address`` and ``st.context.headers`` of the request.
    auth_configured : ``[auth]`` is set in Streamlit's secrets (and Authlib is installed), so ``st.login`` works.
    logged_in : ``st.user.is_logged_in``.
    """
    if logged_in:
        return Access(True, False, False, "signed in")
    local, why = is_local_request(ip_address, headers)
    if local:
        return Access(True, True, False, f"open without sign-in: {why}")
    if auth_configured:
        return Access(False, False, True, f"Sign in to open the case log: {why}.")
    return Access(
        False, False, False,
        f"The case log is available only on localhost until sign-in is configured: {why}. Configure Streamlit's "
        "OIDC login in .streamlit/secrets.toml ([auth] with redirect_uri, cookie_secret, client_id, client_secret and "
        "server_metadata_url; see the README), or open the app on the machine it runs on.",
    )
