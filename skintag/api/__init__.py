"""SkinTag's HTTP API: a FastAPI app over the same package as the dashboard, so both give the same answer.

``python -m skintag.api --host 127.0.0.1 --port 8000`` (or ``make api``) serves it with uvicorn; the OpenAPI schema is at
``/openapi.json`` and the interactive docs at ``/docs``. Modules: :mod:`~skintag.api.app` (the app: routes, request ids,
API keys, CORS, refusals), :mod:`~skintag.api.service` (what each endpoint computes: the pages' own library calls),
:mod:`~skintag.api.schemas` (pydantic models named after the product's types), :mod:`~skintag.api.security` (key hashes
and the host policy), :mod:`~skintag.api.errors` (refusal reasons and statuses). Importing this package imports none of
them (FastAPI loads only where the API runs).
"""
