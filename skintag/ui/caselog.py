"""Streamlit pieces of the case-log pages (Worklist, Monitoring): who may open them, the shared case log, and the
forms that add a decision, an outcome or corrected case fields to a case. The log is :mod:`skintag.caselog`; the
access rule is the pure :func:`skintag.caselog.access.decide`, fed here from the request (``st.context``)."""

from __future__ import annotations

import contextlib
from datetime import date
from typing import TYPE_CHECKING, Any

import streamlit as st

from skintag.caselog import default_url
from skintag.caselog.access import decide
from skintag.errors import SkintagError
from skintag.settings import Settings
from skintag.ui.common import safe_md

if TYPE_CHECKING:  # pragma: no cover
    from skintag.caselog.log import CaseLog

#: Keys of ``[auth]`` in ``.streamlit/secrets.toml`` that Streamlit's OIDC login needs.
AUTH_KEYS = ("redirect_uri", "cookie_secret")


def auth_configured() -> bool:
    """Streamlit's OIDC login is usable: Authlib is installed and ``[auth]`` is in the secrets."""
    try:
        from streamlit.auth_util import is_authlib_installed

        auth = st.secrets.get("auth")
        return bool(is_authlib_installed() and auth and all(k in auth for k in AUTH_KEYS))
    except Exception:  # no secrets file, unreadable secrets: no sign-in configured
        return False


def _logged_in() -> bool:
    try:
        return bool(st.user.is_logged_in)
    except (AttributeError, KeyError):  # no user information (AppTest, bare mode)
        return False


def gate() -> str:
    """Stop the page unless this request may see the case log (signed in, or from this machine); say why when it
    stops. Returns the author recorded with the user's changes (the signed-in e-mail or name, else "localhost")."""
    ip = st.context.ip_address
    headers = dict(st.context.headers or {})
    access = decide(ip_address=ip if isinstance(ip, str) else None, headers=headers,
                    auth_configured=auth_configured(), logged_in=_logged_in())
    if not access.allowed:
        if access.needs_login:
            st.info(access.reason, icon="🔒")
            st.button("Sign in", on_click=st.login, key="login_btn")
        else:
            st.warning(access.reason, icon="🔒")
        st.stop()
    if access.local:
        return "localhost"
    return str(st.user.get("email") or st.user.get("name") or "signed-in user")


@st.cache_resource(show_spinner="Opening the case log…", max_entries=4)
def _cached_log(url: str, image_dir: str, busy_timeout_s: float) -> CaseLog:
    """One open case log per (URL, image folder, timeout) and process; shared by every session (the engine's pool
    gives each thread its own connection)."""
    from skintag.caselog.log import CaseLog

    return CaseLog(url, image_dir=image_dir, busy_timeout_s=busy_timeout_s)


def get_caselog(settings: Settings) -> tuple[CaseLog | None, str | None]:
    """The case log the settings name, opened once per process (a failed open is retried on the next run), or None
    and the reason it cannot be used."""
    from skintag.caselog import IMAGE_FOLDER

    try:
        return _cached_log(default_url(settings), str(settings.app_data_dir / IMAGE_FOLDER),
                           settings.caselog_busy_timeout_s), None
    except SkintagError as exc:
        return None, str(exc)


def log_unavailable(message: str) -> None:
    st.warning(f"**The case log is unavailable; triage still works, but nothing is recorded.** {safe_md(message)}",
               icon="🗄️")


def render_case_forms(log: CaseLog, case_id: str, *, triage_tier: str | None, author: str) -> None:
    """Decision, outcome and case-field forms for one case, then its history (every row, oldest first)."""
    from skintag.caselog.log import ACTIONS, CONFIRMATIONS, SEXES, TIERS
    from skintag.fairness.groups import age_band_order
    from skintag.taxonomy import CONDITIONS

    c1, c2, c3 = st.columns(3)
    with c1.form(f"decision_{case_id}"):
        st.markdown("**Decision**")
        agree = st.radio("Triage tier", ["Agree", "Override"], horizontal=True, key=f"agree_{case_id}")
        tier = st.selectbox("Clinician's tier (override)", TIERS, index=TIERS.index(triage_tier) if triage_tier in
                            TIERS else 1, key=f"tier_{case_id}")
        action = st.selectbox("Action", ACTIONS, key=f"action_{case_id}")
        note = st.text_area("Note", key=f"note_{case_id}", max_chars=2000)
        if st.form_submit_button("Save decision"):
            _save(lambda: log.set_decision(case_id, agree=agree == "Agree", tier=None if agree == "Agree" else tier,
                                           action=action, note=note or None, author=author), "Decision saved.")
    with c2.form(f"outcome_{case_id}"):
        st.markdown("**Confirmed outcome**")
        diagnosis = st.selectbox("Diagnosis", CONDITIONS, key=f"diagnosis_{case_id}")
        confirmed_by = st.selectbox("Confirmed by", CONFIRMATIONS, key=f"confirmed_by_{case_id}")
        when = st.date_input("Date", value=date.today(), key=f"outcome_date_{case_id}")
        if st.form_submit_button("Save outcome"):
            _save(lambda: log.set_outcome(case_id, diagnosis, confirmed_by=confirmed_by, date=when, author=author),
                  "Outcome saved.")
    with c3.form(f"fields_{case_id}"):
        st.markdown("**Case fields** (pseudonymous)")
        skin = st.selectbox("Skin type (Fitzpatrick)", ["", "I", "II", "III", "IV", "V", "VI"],
                            key=f"skin_{case_id}")
        band = st.selectbox("Age band", ["", *age_band_order()], key=f"age_{case_id}")
        sex = st.selectbox("Sex", ["", *SEXES], key=f"sex_{case_id}")
        site = st.text_input("Body site", key=f"site_{case_id}", max_chars=64)
        lesion = st.text_input("Lesion id (pseudonym)", key=f"lesion_{case_id}", max_chars=64)
        if st.form_submit_button("Save case fields"):
            _save(lambda: log.set_case_fields(case_id, skin_type=skin or None, age_band=band or None, sex=sex or None,
                                              site=site or None, lesion_id=lesion or None, author=author),
                  "Case fields saved.")
    with contextlib.suppress(SkintagError):
        st.caption("History (append-only: every change is a new row)")
        st.dataframe(log.history(case_id), hide_index=True, width="stretch", key=f"history_{case_id}")


def _save(action: Any, message: str) -> None:
    try:
        action()
        st.success(message)
    except SkintagError as exc:
        st.error(f"Not saved: {safe_md(exc)}")
