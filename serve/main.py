"""`npm run serve -- --model DIR [--port P] [--host H] [--config serve.yaml]`: the team server (serve/README.md).

Starts a local Ray cluster and Ray Serve on HOST:PORT (127.0.0.1 unless told otherwise) with the deployment of
serve/app.py for the model folder DIR, prints one line `ready http://HOST:PORT model NAME` and serves until SIGINT or
SIGTERM. The token comes from UNMASK_SERVER_TOKEN (required; never printed or logged). Replicas, autoscaling and
the batch settings come from Ray Serve's own deployment options in --config (serve/config.example.yaml).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import signal
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="npm run serve --", description="Serve a converted Unmask model folder over KServe v2 with Ray Serve.")
    p.add_argument("--model", required=True, help="a converted model folder (unmask.json, model.onnx, tokenizer.json)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; put a TLS proxy in front for others)")
    p.add_argument("--config", help="YAML or JSON: Ray Serve deployment options (num_replicas, autoscaling_config, max_ongoing_requests, user_config)")
    p.add_argument("--threads", type=int, default=2, help="rows run side by side per replica (one onnxruntime thread each)")
    p.add_argument("--max-batch-size", type=int, default=16)
    p.add_argument("--batch-wait-ms", type=float, default=2.0)
    p.add_argument("--num-cpus", type=int, help="CPUs Ray may use (default: all)")
    return p.parse_args(argv)


def deployment_options(path: str | None) -> dict:
    if not path:
        return {}
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if path.endswith((".yaml", ".yml")):
        import yaml  # ray depends on pyyaml

        config = yaml.safe_load(text)
    else:
        config = json.loads(text)
    # either the deployment's options themselves or a Serve config file's first deployment
    if "applications" in config:
        config = config["applications"][0]["deployments"][0]
    return {k: v for k, v in config.items() if k != "name"}


def main(argv: list[str]) -> int:
    args = parse(argv)
    token = os.environ.get("UNMASK_SERVER_TOKEN", "")
    if len(token) < 16:
        print("npm run serve: set UNMASK_SERVER_TOKEN to a secret of at least 16 characters (e.g. `openssl rand -hex 32`); every editor sends it", file=sys.stderr)
        return 2
    model_dir = os.path.abspath(args.model)
    if not os.path.isfile(os.path.join(model_dir, "unmask.json")):
        print(f"npm run serve: {model_dir} is not a converted model folder (no unmask.json); npm run convert writes one", file=sys.stderr)
        return 2
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"  # Ray's own usage reporting off, as onnxruntime's telemetry is
    os.environ.setdefault("RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S", "60")
    import ray
    from ray import serve

    from app import UnmaskModel

    ray.init(
        address="local",
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.WARNING,
        **({"num_cpus": args.num_cpus} if args.num_cpus else {}),
        runtime_env={"env_vars": {"ORT_DISABLE_TELEMETRY": "1", "PYTHONPATH": HERE, "UNMASK_SERVE_THREADS": str(max(1, args.threads))}},
    )
    serve.start(http_options={"host": args.host, "port": args.port}, logging_config={"log_level": "WARNING", "enable_access_log": False})
    options = deployment_options(args.config)
    user_config = options.pop("user_config", {}) or {}
    deployment = UnmaskModel.options(**options, **({"user_config": user_config} if user_config else {}))
    app = deployment.bind(
        model_dir,
        hashlib.sha256(token.encode()).hexdigest(),
        args.threads,
        int(user_config.get("max_batch_size", args.max_batch_size)),
        float(user_config.get("batch_wait_timeout_s", args.batch_wait_ms / 1000)),
    )
    with open(os.path.join(model_dir, "unmask.json"), encoding="utf-8") as f:
        name = json.load(f)["name"]
    serve.run(app, name="unmask", route_prefix="/", blocking=False)
    print(f"ready http://{args.host}:{args.port} model {name}", flush=True)

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    try:
        serve.shutdown()
    finally:
        ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
