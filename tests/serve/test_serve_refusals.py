"""``dlnotes serve`` refuses every bad payload with a 4xx and one line of JSON, ``{"error": "..."}``: never a
5xx, never a traceback; a body beyond the limit is refused before it is read; random payloads never fail it."""

import base64
import io
import json

import numpy as np
import pytest

from bad_files import png_header


def image(fmt: str, size=(64, 64), cut: int = 0) -> str:
    """A noisy grey image as base64; ``cut``: without its last ``cut`` bytes."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, size, dtype=np.uint8)).save(buf, fmt)
    return base64.b64encode(buf.getvalue()[:len(buf.getvalue()) - cut]).decode()


def b64(blob: bytes) -> str:
    return base64.b64encode(blob).decode()


ROW = {"island": "Dream", "bill_length_mm": 40.0, "bill_depth_mm": 18.0, "flipper_length_mm": 190,
       "body_mass_g": 3800, "sex": "male", "year": 2008}
BAD = {  # name: (body, content type, status)
    "malformed JSON": (b'{"inputs": [', "application/json", 400),
    "NaN is not JSON": (b'{"run": "series", "inputs": [[NaN]]}', "application/json", 400),
    "nested too deeply": (b'{"inputs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "application/json", 400),
    "not an object": (b"[1, 2]", "application/json", 422),
    "inputs not a list": ({"run": "series", "inputs": "1 2 3"}, None, 422),
    "no inputs": ({"run": "series", "inputs": []}, None, 422),
    "too many inputs": ({"run": "text", "inputs": ["the quick brown fox"] * 257}, None, 413),
    "an unknown key": ({"run": "text", "inputs": ["the quick brown"], "top_k": 3}, None, 422),
    "steps beyond the limit": ({"run": "text", "inputs": ["the quick brown"], "steps": 10**6}, None, 422),
    "steps as text": ({"run": "text", "inputs": ["the quick brown"], "steps": "5"}, None, 422),
    "unknown run": ({"run": "nope", "inputs": [[1]]}, None, 404),
    "no run among several": ({"inputs": [[1]]}, None, 422),
    "an image as a number": ({"run": "digits", "inputs": [3]}, None, 422),
    "an image as a bare string": ({"run": "digits", "inputs": [image("PNG")]}, None, 422),
    "an image not base64": ({"run": "digits", "inputs": [{"image": "not base64!"}]}, None, 400),
    "an image that is not one": ({"run": "digits", "inputs": [{"image": b64(b"hello, world")}]}, None, 400),
    "a truncated PNG": ({"run": "digits", "inputs": [{"image": image("PNG", cut=2000)}]}, None, 400),
    "a truncated JPEG": ({"run": "digits", "inputs": [{"image": image("JPEG", cut=1000)}]}, None, 400),
    "a GIF": ({"run": "digits", "inputs": [{"image": image("GIF")}]}, None, 415),
    "a decompression bomb": ({"run": "digits", "inputs": [{"image": b64(png_header(60_000, 60_000))}]}, None, 413),
    "a pixel flood": ({"run": "digits", "inputs": [{"image": b64(png_header(5000, 5000))}]}, None, 413),
    "a row lacking a column": ({"run": "penguins", "inputs": [{k: v for k, v in ROW.items() if k != "sex"}]}, None,
                               422),
    "a row with an unknown column": ({"run": "penguins", "inputs": [{**ROW, "beak": 3}]}, None, 422),
    "a cell that is a list": ({"run": "penguins", "inputs": [{**ROW, "island": ["Dream"]}]}, None, 422),
    "text in a number column": ({"run": "penguins", "inputs": [{**ROW, "body_mass_g": "heavy"}]}, None, 422),
    "a row as a list": ({"run": "penguins", "inputs": [list(ROW.values())]}, None, 422),
    "a series of text": ({"run": "series", "inputs": [["1", "2"]]}, None, 422),
    "a series too short": ({"run": "series", "inputs": [[1, 2, 3]]}, None, 422),
    "a prompt as a number": ({"run": "text", "inputs": [42]}, None, 422),
    "a character never seen": ({"run": "text", "inputs": ["the quick brown €"]}, None, 422),
    "a tiny temperature": ({"run": "text", "inputs": ["the quick brown"], "temperature": 1e-9}, None, 422),
    "plain text": (b"1 2 3", "text/plain", 415),
    "an unknown form field": (b'--b\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n--b--\r\n',
                              "multipart/form-data; boundary=b", 422),
    "too many files": (b"".join(b'--b\r\nContent-Disposition: form-data; name="f"; filename="%d.png"\r\n\r\nx\r\n' % i
                                 for i in range(257)) + b"--b--\r\n", "multipart/form-data; boundary=b", 413),
    "a malformed form": (b"--b\r\nnothing here", "multipart/form-data; boundary=b", 400),
}


@pytest.mark.parametrize("name", list(BAD))
def test_a_bad_payload_is_a_4xx_with_one_line_of_json(serve_client, name):
    body, content_type, status = BAD[name]
    if isinstance(body, dict):
        body, content_type = json.dumps(body).encode(), "application/json"
    got, answer = serve_client.post(body, content_type)
    assert got == status, answer
    assert list(answer) == ["error"] and answer["error"] and "\n" not in answer["error"]
    assert "Traceback" not in answer["error"]


def test_a_body_beyond_the_limit_is_a_413_before_it_is_read(serve_client):
    from dlnotes.serve.limits import LIMITS

    head = f"Content-Type: application/json\r\nContent-Length: {LIMITS.body_bytes + 1}\r\n"
    status, answer = serve_client.raw_post(head, [])  # not one byte of the body sent
    assert status == 413 and list(answer) == ["error"] and "larger than" in answer["error"]
    chunk = b" " * 65536
    chunked = (f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" for _ in range(LIMITS.body_bytes // len(chunk) + 2))
    status, answer = serve_client.raw_post("Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n", chunked)
    assert status == 413 and "larger than" in answer["error"]


def test_random_payloads_never_fail_the_server(serve_client):
    """Arbitrary JSON in every place of a request: always an answer, never a 5xx."""
    hypothesis = pytest.importorskip("hypothesis")
    from hypothesis import strategies as st

    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
    values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8),
                                                                                                 inner, max_size=4),
                          max_leaves=12)
    runs = st.sampled_from(["digits", "penguins", "mass", "series", "text"])
    body = st.fixed_dictionaries({"run": runs, "inputs": st.lists(values, min_size=1, max_size=3)},
                                 optional={"steps": values, "temperature": values, "seed": values})

    @hypothesis.settings(max_examples=80, deadline=None, database=None, derandomize=True)
    @hypothesis.given(body)
    def check(payload):
        status, answer = serve_client.post(json.dumps(payload).encode())
        assert status < 500, (payload, answer)
        assert status == 200 or list(answer) == ["error"]

    check()
