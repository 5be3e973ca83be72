"""The Ray Serve deployment: a converted model folder answering the Open Inference Protocol (KServe v2) for its graph.

    GET  /v2/health/live, /v2/health/ready        (no token: for load balancers and probes; they carry no data)
    GET  /v2/models/{name}                        metadata, with the manifest and the tokenizer's digest
    GET  /v2/models/{name}/ready
    POST /v2/models/{name}/infer                  input_ids, start, past_kv (0 rows), positions: JSON tensors or the
                                                  binary tensor extension (either way in, as asked out)
    GET  /unmask/v1/model                         the served model's name (a client given only the server's URL)
    GET  /unmask/v1/models/{name}/tokenizer.json  the tokenizer, for clients without the model folder
    GET  /unmask/v1/stats                         batch sizes formed by @serve.batch (the load test reads them)

Every route but the health ones needs `Authorization: Bearer <token>` (401 otherwise). The token itself never
reaches Ray: the replica gets its SHA-256 only. Nothing logs a request's body (its token ids are the user's code).
"""

import asyncio
import hashlib
import hmac
import json
import os
from collections import Counter

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from ray import serve

from graph import IN, OUTPUTS, Graph, RequestError, Rows

api = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

DATATYPES = {"INT64": np.int64, "FP32": np.float32}

# Batches run at once on a replica: one per row it runs side by side (`--threads`, serve/main.py sets this). Ray Serve
# forms a batch as soon as the last one is handed on, not when it finishes: with one batch at a time, editors that each
# wait for their answer arrive one per forward and every batch held one row, run on one core (serve/README.md).
CONCURRENT_BATCHES = max(1, int(os.environ.get("UNMASK_SERVE_THREADS", "2")))


BINARY_HEADER = "inference-header-content-length"  # the binary tensor extension: the JSON part's length in bytes


def split_body(raw: bytes, header: str | None) -> tuple[dict, dict]:
    """An infer body: its JSON part, and each binary input's array by name (the binary tensor extension: the tensors'
    little-endian bytes follow the JSON in the order of its inputs, each `parameters.binary_data_size` long)."""
    try:
        end = len(raw) if header is None else int(header)
    except ValueError:
        raise RequestError(f"{BINARY_HEADER} must be a byte count")
    if not 0 <= end <= len(raw):
        raise RequestError(f"{BINARY_HEADER} {end} does not fit a body of {len(raw)} bytes")
    try:
        body = json.loads(raw[:end])
    except (ValueError, UnicodeDecodeError):
        raise RequestError("the body does not start with a JSON object")
    if not isinstance(body, dict):
        raise RequestError("the body does not start with a JSON object")
    binary, at = {}, end
    for inp in body.get("inputs", []) if isinstance(body.get("inputs"), list) else []:
        size = params(inp).get("binary_data_size")
        if size is None:
            continue
        dtype = DATATYPES.get(inp.get("datatype"))
        if dtype is None or not isinstance(size, int) or size < 0 or at + size > len(raw) or size % np.dtype(dtype).itemsize:
            raise RequestError(f"input {inp.get('name')!r}: binary_data_size {size!r} does not fit the body or its datatype")
        binary[inp.get("name")] = np.frombuffer(raw[at : at + size], dtype=np.dtype(dtype).newbyteorder("<"))
        at += size
    if at != len(raw):
        raise RequestError(f"{len(raw) - at} bytes after the last binary input")
    return body, binary


def params(x) -> dict:
    """An object's `parameters`, or {} where it has none (or something else in their place)."""
    p = x.get("parameters") if isinstance(x, dict) else None
    return p if isinstance(p, dict) else {}


def tensor_of(inp: dict, binary: dict | None = None) -> np.ndarray:
    dtype = DATATYPES.get(inp.get("datatype"))
    shape = inp.get("shape")
    if dtype is None or not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise RequestError(f"input {inp.get('name')!r}: datatype must be INT64 or FP32 and shape a list of sizes")
    data = binary[inp["name"]] if binary and inp.get("name") in binary else np.asarray(inp.get("data", []), dtype=dtype)
    if data.size != int(np.prod(shape)):
        raise RequestError(f"input {inp.get('name')!r}: {data.size} values for shape {shape}")
    return data.astype(dtype, copy=False).reshape(shape)


def infer_response(head: dict, outputs: list[tuple[str, np.ndarray, bool]]) -> Response:
    """The answer: JSON tensors, or where asked (an output's `binary_data`, or the request's `binary_data_output`) the
    binary tensor extension, the arrays' little-endian bytes after the JSON part in the order of its outputs."""
    described, blobs = [], []
    for name, a, binary in outputs:
        t = {"name": name, "datatype": "INT64" if a.dtype == np.int64 else "FP32", "shape": list(a.shape)}
        if binary:
            blob = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).tobytes()
            t["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            t["data"] = a.ravel().tolist()
        described.append(t)
    text = json.dumps({**head, "outputs": described}, separators=(",", ":")).encode()
    if not blobs:
        return Response(text, media_type="application/json")
    return Response(text + b"".join(blobs), media_type="application/octet-stream", headers={BINARY_HEADER: str(len(text))})


@serve.deployment(max_ongoing_requests=64, ray_actor_options={"num_cpus": 0})
@serve.ingress(api)
class UnmaskModel:
    def __init__(self, model_dir: str, token_sha256: str, threads: int = 2, max_batch_size: int = 16, batch_wait_timeout_s: float = 0.002):
        self.graph = Graph(model_dir, threads)
        self.token_sha256 = token_sha256
        self.batches: Counter = Counter()
        self.rows.set_max_batch_size(max_batch_size)
        self.rows.set_batch_wait_timeout_s(batch_wait_timeout_s)

    def reconfigure(self, config: dict) -> None:
        """Ray Serve's user_config (serve/config.example.yaml): batch size and wait, changed without a restart."""
        if "max_batch_size" in config:
            self.rows.set_max_batch_size(int(config["max_batch_size"]))
        if "batch_wait_timeout_s" in config:
            self.rows.set_batch_wait_timeout_s(float(config["batch_wait_timeout_s"]))

    def authorize(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else ""
        digest = hashlib.sha256(token.encode()).hexdigest()
        if not token or not hmac.compare_digest(digest, self.token_sha256):
            raise HTTPException(401, "a valid token is required (Authorization: Bearer …; UNMASK_SERVER_TOKEN on the server)", headers={"WWW-Authenticate": "Bearer"})

    def named(self, name: str) -> None:
        if name != self.graph.name:
            raise HTTPException(404, f"no model {name!r} here (this server serves {self.graph.name!r})")

    @api.get("/v2/health/live")
    def live(self):
        return {"live": True}

    @api.get("/v2/health/ready")
    def ready(self):
        return {"ready": True}

    @api.get("/v2")
    def server_metadata(self, request: Request):
        self.authorize(request)
        return {"name": "unmask-serve", "version": "1", "extensions": ["unmask"]}

    @api.get("/v2/models/{name}")
    def model_metadata(self, name: str, request: Request):
        self.authorize(request)
        self.named(name)
        return self.graph.metadata()

    @api.get("/v2/models/{name}/ready")
    def model_ready(self, name: str, request: Request):
        self.authorize(request)
        self.named(name)
        return {"name": name, "ready": True}

    @api.get("/unmask/v1/model")
    def model_name(self, request: Request):
        self.authorize(request)
        return {"name": self.graph.name}

    @api.get("/unmask/v1/models/{name}/tokenizer.json")
    def tokenizer(self, name: str, request: Request):
        self.authorize(request)
        self.named(name)
        return FileResponse(self.graph.tokenizer_file, media_type="application/json")

    @api.get("/unmask/v1/stats")
    def stats(self, request: Request):
        self.authorize(request)
        return {"batches": {str(k): v for k, v in sorted(self.batches.items())}, "batchExact": self.graph.exact}

    @api.post("/v2/models/{name}/infer")
    async def infer(self, name: str, request: Request):
        self.authorize(request)
        self.named(name)
        try:
            body, binary = split_body(await request.body(), request.headers.get(BINARY_HEADER))
            inputs = {i.get("name"): i for i in body.get("inputs", []) if isinstance(i, dict)}
            missing = [n for n in (IN["ids"], IN["positions"]) if n not in inputs]
            if missing:
                raise RequestError(f"missing input {', '.join(missing)}")
            rows = Rows(tensor_of(inputs[IN["ids"]], binary).astype(np.int64), tensor_of(inputs[IN["positions"]], binary).astype(np.int64))
            if IN["start"] in inputs and int(tensor_of(inputs[IN["start"]], binary).ravel()[0]) != 0:
                raise RequestError(f"this server runs full forwards only: {IN['start']} must be 0")
            past = inputs.get(IN["pastKv"])
            if past is not None and (len(past.get("shape", [])) != 6 or past["shape"][4] != 0):
                raise RequestError(f"this server runs full forwards only: {IN['pastKv']} must have 0 rows")
            self.graph.check(rows)
        except (RequestError, ValueError, TypeError, AttributeError) as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        top_ids, top_probs, entropy = await self.rows(rows)
        outputs = body.get("outputs")
        asked = [o for o in outputs if isinstance(o, dict)] if isinstance(outputs, list) else []
        asked = asked or [{"name": n} for n in OUTPUTS]
        all_binary = bool(params(body).get("binary_data_output"))
        out = dict(zip(OUTPUTS, (top_ids, top_probs, entropy)))
        head = {"model_name": self.graph.name, "model_version": "1", **({"id": body["id"]} if isinstance(body.get("id"), str) else {})}
        return infer_response(
            head,
            [(o["name"], out[o["name"]], all_binary or bool(params(o).get("binary_data"))) for o in asked if o.get("name") in out],
        )

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.002, max_concurrent_batches=CONCURRENT_BATCHES)
    async def rows(self, items):
        self.batches[len(items)] += 1
        return await asyncio.get_running_loop().run_in_executor(None, self.graph.run_many, items)


def app_builder(args: dict):
    """Serve's application builder (`serve run serve.config:...` or serve/main.py): args model_dir, token_sha256,
    threads, max_batch_size, batch_wait_timeout_s."""
    return UnmaskModel.bind(
        args["model_dir"],
        args["token_sha256"],
        int(args.get("threads", 2)),
        int(args.get("max_batch_size", 16)),
        float(args.get("batch_wait_timeout_s", 0.002)),
    )
