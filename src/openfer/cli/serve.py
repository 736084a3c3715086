"""``openfer serve``: the HTTP service (FastAPI app from :mod:`openfer.serve`, run by uvicorn)."""

from __future__ import annotations

import argparse

from openfer.cli.predict import add_recognizer_arguments, recognizer_from_args


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve POST /predict (image in, faces and expressions out) and GET /health over HTTP",
        description="Run the HTTP service. POST an image to /predict; GET /health.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")
    add_recognizer_arguments(parser)
    parser.add_argument("--max-upload-mb", type=float, default=10.0, help="largest accepted upload (413 above)")
    parser.add_argument("--max-concurrency", type=int, default=1, help="images processed at once")
    parser.add_argument("--max-queue", type=int, default=4, help="requests allowed to wait (503 beyond)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, rest: list[str]) -> int:
    from openfer.serve import check_options, create_app, serve

    limits = {"max_upload_bytes": int(args.max_upload_mb * 1024 * 1024), "max_concurrency": args.max_concurrency, "max_queue": args.max_queue}
    check_options(**limits, port=args.port)  # before the model loads
    serve(create_app(recognizer_from_args(args), **limits), host=args.host, port=args.port)
    return 0
