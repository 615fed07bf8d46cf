"""``dlnotes serve``: trained runs answered over HTTP, and a page at ``/`` to try them.

    GET  /health    {"status": "ok", "runs": [NAME, ...]}
    GET  /info      {"runs": [{name, model, task, input, classes, metrics}, ...]} (``describe``)
    POST /predict   {"run": NAME, "inputs": [...]} -> {"run": NAME, "predictions": [{"prediction": ...}, ...]}
                    (JSON, or a multipart upload of image files; ``payload``)
    GET  /          the page (``static/``: plain HTML, CSS and JavaScript; nothing fetched from elsewhere)

The server is a thin shell over ``Run.predict``, the function ``dlnotes predict`` calls: each request
is read into the inputs ``Run.predict`` takes (``payload``, ``images``), answered by one call on the
run's model, loaded once at start, and its rows turned into JSON (``served``). Bad input is a 4xx
with ``{"error": "one line"}`` (``app``); the limits are ``payload.LIMITS``.

Why Starlette on uvicorn: Starlette is the small ASGI toolkit FastAPI is built on (routing, requests,
multipart forms through python-multipart, static files, a test client), and uvicorn is the server
both are run with. FastAPI would add request validation from type hints, but a request here can only
be checked against the run it names (its columns, image size, series length), and FastAPI's own
validation errors are lists, not the one line this contract promises, so we would switch both it and
its documentation page (which loads its scripts from a CDN) off. The envelope of a request is still
declared once, as a pydantic model (``payload.PredictRequest``), as the house does for configs.
"""

from dlnotes.serve.served import Served, load_runs

__all__ = ["Served", "load_runs"]
