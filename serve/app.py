"""The Ray Serve deployment: a converted model folder answering the Open Inference Protocol (KServe v2) for its graph.

    GET  /v2/health/live, /v2/health/ready        (no token: for load balancers and probes; they carry no data)
    GET  /v2/models/{name}                        metadata, with the manifest and the tokenizer's digest
    GET  /v2/models/{name}/ready
    POST /v2/models/{name}/infer                  JSON tensors: input_ids, start, past_kv (0 rows), positions
    GET  /unmask/v1/model                         the served model's name (a client given only the server's URL)
    GET  /unmask/v1/models/{name}/tokenizer.json  the tokenizer, for clients without the model folder
    GET  /unmask/v1/stats                         batch sizes formed by @serve.batch (the load test reads them)

Every route but the health ones needs `Authorization: Bearer <token>` (401 otherwise). The token itself never
reaches Ray: the replica gets its SHA-256 only. Nothing logs a request's body (its token ids are the user's code).
"""

import asyncio
import hashlib
import hmac
import os
from collections import Counter

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse
from ray import serve

from graph import IN, OUTPUTS, Graph, RequestError, Rows

api = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

DATATYPES = {"INT64": np.int64, "FP32": np.float32}

# Batches run at once on a replica: one per row it runs side by side (`--threads`, serve/main.py sets this). Ray Serve
# forms a batch as soon as the last one is handed on, not when it finishes: with one batch at a time, editors that each
# wait for their answer arrive one per forward and every batch held one row, run on one core (serve/README.md).
CONCURRENT_BATCHES = max(1, int(os.environ.get("UNMASK_SERVE_THREADS", "2")))


def tensor_of(inp: dict) -> np.ndarray:
    dtype = DATATYPES.get(inp.get("datatype"))
    shape = inp.get("shape")
    if dtype is None or not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise RequestError(f"input {inp.get('name')!r}: datatype must be INT64 or FP32 and shape a list of sizes")
    data = np.asarray(inp.get("data", []), dtype=dtype)
    if data.size != int(np.prod(shape)):
        raise RequestError(f"input {inp.get('name')!r}: {data.size} values for shape {shape}")
    return data.reshape(shape)


def output(name: str, a: np.ndarray) -> dict:
    return {"name": name, "datatype": "INT64" if a.dtype == np.int64 else "FP32", "shape": list(a.shape), "data": a.ravel().tolist()}


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
            body = await request.json()
            inputs = {i.get("name"): i for i in body.get("inputs", [])}
            missing = [n for n in (IN["ids"], IN["positions"]) if n not in inputs]
            if missing:
                raise RequestError(f"missing input {', '.join(missing)}")
            rows = Rows(tensor_of(inputs[IN["ids"]]).astype(np.int64), tensor_of(inputs[IN["positions"]]).astype(np.int64))
            if IN["start"] in inputs and int(tensor_of(inputs[IN["start"]]).ravel()[0]) != 0:
                raise RequestError(f"this server runs full forwards only: {IN['start']} must be 0")
            past = inputs.get(IN["pastKv"])
            if past is not None and (len(past.get("shape", [])) != 6 or past["shape"][4] != 0):
                raise RequestError(f"this server runs full forwards only: {IN['pastKv']} must have 0 rows")
            self.graph.check(rows)
        except (RequestError, ValueError, TypeError, AttributeError) as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        top_ids, top_probs, entropy = await self.rows(rows)
        wanted = [o.get("name") for o in body.get("outputs", [])] or list(OUTPUTS)
        out = dict(zip(OUTPUTS, (top_ids, top_probs, entropy)))
        return {
            "model_name": self.graph.name,
            "model_version": "1",
            **({"id": body["id"]} if isinstance(body.get("id"), str) else {}),
            "outputs": [output(n, out[n]) for n in wanted if n in out],
        }

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
