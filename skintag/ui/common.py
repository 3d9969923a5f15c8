"""Frame-level pieces shared by every page: settings, the disclaimer, the model/data status badge, and the model
bundle, loaded once per process in a background thread that the frame starts (so the bundle is ready, or nearly, when
the triage page needs it, and no other page waits for torch)."""

from __future__ import annotations

import contextlib
import gc
import re
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import streamlit as st

from skintag.errors import ConfigError, ModelBundleError
from skintag.model.manifest import read_manifest
from skintag.settings import Settings

if TYPE_CHECKING:
    from skintag.model.bundle import ModelBundle

DISCLAIMER = (
    "**SkinTag is an AI screening aid, not a diagnosis.** False negatives and false positives happen. "
    "See a qualified clinician regardless of the result, and seek care at once for a lesion that changes fast, "
    "bleeds or hurts."
)


def get_settings() -> Settings:
    """Settings from the environment (cheap; read per run so a changed environment is honoured). A ``SKINTAG_*``
    variable that is not a number or out of range stops the page with an error naming it (never a traceback)."""
    try:
        return Settings.from_env()
    except ConfigError as exc:
        st.error(f"SkinTag cannot start with this configuration: {exc}. Correct or unset the variable and restart "
                 "the app.", icon="⚙️")
        st.stop()
        raise  # st.stop() raises; this keeps type checkers content


#: Characters that start Markdown or HTML markup, or let GitHub-flavoured Markdown turn text into a link
#: (``http:``, ``www.``, ``a@b.c``): each is backslash-escaped by :func:`safe_md`.
_MD_ACTIVE = re.compile(r"([\\`*_\[\]{}()<>#+!|~:.@&=-])")


def safe_md(text: str) -> str:
    """User-supplied text (a file name, a column or group name, a CSV value, an error quoting one) made inert for
    ``st.markdown``, ``st.caption``, ``st.error`` and widget labels: every character that could start markup, a link,
    an image, raw HTML or an autolink is backslash-escaped, and line breaks become spaces. It renders as the same text."""
    return _MD_ACTIVE.sub(r"\\\1", str(text).replace("\r", " ").replace("\n", " "))


def render_sidebar(settings: Settings) -> None:
    """The shared sidebar: intended use, disclaimer, and which model and data the app is using."""
    with st.sidebar:
        st.markdown("### Intended use")
        st.caption(
            "Decision support for clinicians triaging skin lesions, and fairness auditing of triage models "
            "by Fitzpatrick skin type. Not for self-diagnosis; not a medical device."
        )
        st.warning(DISCLAIMER, icon="⚠️")
        st.markdown("### Status")
        try:
            manifest = read_manifest(settings.model_dir)
            st.success(f"Model: **{safe_md(manifest.get('name', '?'))}** v{safe_md(manifest.get('version', '?'))}",
                       icon="🧠")
            _render_integrity(settings)
        except ModelBundleError as exc:
            st.error(f"Model not loaded: {safe_md(exc)}", icon="🧠")
        if settings.data_dir.is_dir():
            st.info(f"Data root: `{settings.data_dir}`", icon="🗂️")
        else:
            st.info(f"No data root at `{settings.data_dir}` (set `SKINTAG_DATA_DIR`).", icon="🗂️")


def _render_integrity(settings: Settings) -> None:
    """The bundle's fingerprint and signature status once the background load has checked them; while it is still
    checking, in a fragment that looks again every second (so the status appears without an interaction)."""
    try:
        pending = not start_bundle_load(settings).done()
    except ModelBundleError:
        return
    (_integrity_pending if pending else _integrity_status)(settings)


def _integrity_status(settings: Settings) -> None:
    try:
        future = start_bundle_load(settings)
    except ModelBundleError:  # the manifest went away since: the status badge above says so on the next run
        return
    if not future.done():
        st.caption("Integrity: checking file hashes and signature…")
        return
    try:
        bundle = future.result()
    except Exception as exc:  # noqa: BLE001 — shown, never raised: the triage page reports the load error too
        st.error(f"Bundle refused: {safe_md(exc)}", icon="🔒")
        return
    icon = {"verified": "🔒", "untrusted": "🔓", "unsigned": "🔓"}.get(bundle.signature.state, "🔓")
    st.caption(f"{icon} {safe_md(bundle.signature.message)} Fingerprint `{bundle.fingerprint[:16]}`")


_integrity_pending = st.fragment(_integrity_status, run_every=1.0)


@contextlib.contextmanager
def _collector_paused(*, freeze: bool) -> Iterator[None]:
    """Pause Python's cyclic garbage collector while torch and transformers import (tens of thousands of long-lived
    objects: the collector's repeated passes over them took 0.65 s of a 2.85 s import here). With ``freeze`` (the
    served app), ``gc.freeze()`` what was built, so that later full collections skip the model and the libraries
    instead of walking them for 0.2 s each; cyclic garbage the imports left is then kept, not freed. Not in a test
    process, where frozen objects would outlive their tests."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if was_enabled:
            gc.enable()


def _load_and_warm(
    path: str, trusted_keys: tuple[str, ...] = (), require_signature: bool = False, *, freeze: bool = False
) -> ModelBundle:
    """:func:`skintag.triage.load_and_warm` with the garbage collector paused (``freeze``: see
    :func:`_collector_paused`)."""
    from skintag.triage import load_and_warm

    with _collector_paused(freeze=freeze):
        return load_and_warm(path, trusted_keys=trusted_keys, require_signature=require_signature)


@st.cache_resource(show_spinner=False)
def _bundle_future(
    path: str, manifest_mtime: float, trusted_keys: tuple[str, ...] = (), require_signature: bool = False,
    _served: bool = False,
) -> Future[ModelBundle]:
    """The (running or finished) background load of the bundle at ``path``: started once per process, manifest
    version (``manifest_mtime`` is only a cache key) and trust setting (``_served``, not part of the key: whoever
    starts the load first decides whether the loaded objects are frozen for the collector)."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="skintag-bundle")
    future = pool.submit(_load_and_warm, path, trusted_keys, require_signature, freeze=_served)
    pool.shutdown(wait=False)  # the thread ends when the load does
    return future


def start_bundle_load(settings: Settings, *, served: bool = False) -> Future[ModelBundle]:
    """Start loading ``settings.model_dir`` in the background unless it is loaded or loading already, and return that
    load. Cheap: the frame calls it on every run. ``served``: this process is the app's server (its lifespan started
    the load), so the loaded libraries and model may be frozen for the garbage collector.

    Raises
    ------
    ModelBundleError
        When there is no bundle there (no ``manifest.json``).
    """
    manifest = Path(settings.model_dir) / "manifest.json"
    if not manifest.is_file():
        raise ModelBundleError(
            f"No model bundle at {settings.model_dir} (manifest.json is missing). Set SKINTAG_MODEL_DIR to a bundle "
            "directory or build the demo bundle (see README)."
        )
    return _bundle_future(str(Path(settings.model_dir).resolve()), manifest.stat().st_mtime,
                          tuple(str(k) for k in settings.trusted_keys), settings.require_signed_bundle, served)


def get_bundle(settings: Settings) -> ModelBundle:
    """The model bundle at ``settings.model_dir``, loaded once per process (again if its manifest changes); waits, with
    a spinner, for the background load the frame started.

    Raises
    ------
    ModelBundleError
        When there is no bundle there or it fails verification (a failed load is retried on the next call).
    """
    future = start_bundle_load(settings)
    try:
        if future.done():
            return future.result()
        with st.spinner("Loading the model bundle…"):
            return future.result()
    except Exception:
        _bundle_future.clear()  # do not keep a failed load: the next run tries again
        raise


@contextlib.asynccontextmanager
async def preload_bundle(_app: Any) -> AsyncIterator[None]:
    """Lifespan of the served app (``st.App`` in ``streamlit_app.py``): start loading the model bundle when the server
    starts, before the first page view, so a visitor's first triage does not wait for torch to import."""
    with contextlib.suppress(ModelBundleError, ConfigError):  # the pages say what is wrong
        start_bundle_load(Settings.from_env(), served=True)
    yield
