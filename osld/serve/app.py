"""The FastAPI app of ``osld serve``: routes, auth on writes, JSON errors, Prometheus metrics, the web page."""

import asyncio
import logging
import secrets
import time
import uuid
from contextlib import asynccontextmanager
from importlib import resources
from typing import Annotated

import anyio
from fastapi import Depends, FastAPI, File, Path, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from osld.errors import ConfigError, ImageReadError, OsldError, RegistryError
from osld.pipeline import Pipeline
from osld.serve.service import ServeConfig, Service, UploadError

log = logging.getLogger("osld.serve")
STATIC = resources.files("osld.serve") / "static"
# no `from __future__ import annotations` here: FastAPI reads these annotations at route definition
brand_path = Annotated[str, Path(description="Brand name (the registry folder name).")]


class BodyTooLarge(Exception):
    pass


class _BodyLimit:
    """ASGI middleware: refuse a request body above ``limit`` bytes, by its Content-Length or while it streams in
    (chunked uploads), before the multipart parser spools it to disk."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length and length.isdigit() and int(length) > self.limit:
            resp = JSONResponse({"error": f"request body of {int(length):,} bytes is more than the "
                                          f"{self.limit:,}-byte limit"}, status_code=413)
            return await resp(scope, receive, send)
        seen = 0

        async def limited():
            nonlocal seen
            msg = await receive()
            seen += len(msg.get("body", b""))
            if seen > self.limit:
                raise BodyTooLarge(f"request body is more than the {self.limit:,}-byte limit")
            return msg

        return await self.app(scope, limited, send)


def _metrics():
    reg = CollectorRegistry()  # per app: tests build several apps in one process
    return reg, {
        "requests": Counter("osld_http_requests", "HTTP requests", ["method", "route", "status"], registry=reg),
        "latency": Histogram("osld_http_request_seconds", "HTTP request latency", ["route"], registry=reg,
                             buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30)),
        "batch": Histogram("osld_batch_size", "images per model call", registry=reg,
                           buckets=(1, 2, 3, 4, 6, 8, 12, 16, 32, 64)),
        "images": Counter("osld_images", "images processed by /v1/detect", ["outcome"], registry=reg),
        "errors": Counter("osld_errors", "error responses", ["status"], registry=reg),
    }


def create_app(pipe: Pipeline, config: ServeConfig | None = None) -> FastAPI:
    """The ``osld serve`` application over ``pipe`` (its registry is the one served and changed)."""
    try:
        from fastapi_offline import FastAPIOffline
    except ImportError:  # docs need local swagger assets; without them /docs is off rather than using a CDN
        FastAPIOffline = None  # noqa: N806
    config = config or ServeConfig()
    reg, m = _metrics()
    service = Service(pipe, config, on_batch=m["batch"].observe)

    @asynccontextmanager
    async def lifespan(_app):
        yield
        service.close()

    kwargs = dict(title="osld", version="0.1", lifespan=lifespan,
                  description="Open-set logo detection: detect and name logos; manage the brand registry.")
    app = FastAPIOffline(**kwargs) if FastAPIOffline else FastAPI(docs_url=None, redoc_url=None, **kwargs)
    app.state.service = service
    app.add_middleware(_BodyLimit, limit=config.max_upload_bytes * config.max_files + 1024 * 1024)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    @app.middleware("http")
    async def observe(request: Request, call_next):
        rid = uuid.uuid4().hex[:12]
        request.state.request_id = rid
        t0 = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception:  # never a traceback to the client: the log has it under the request id
            log.exception("request %s %s %s failed", rid, request.method, request.url.path)
            response = JSONResponse({"error": "internal error", "request_id": rid}, status_code=500)
        route = getattr(request.scope.get("route"), "path", "other")
        m["requests"].labels(request.method, route, str(response.status_code)).inc()
        m["latency"].labels(route).observe(time.perf_counter() - t0)
        if response.status_code >= 400:
            m["errors"].labels(str(response.status_code)).inc()
        response.headers["X-Request-ID"] = rid
        return response

    @app.exception_handler(UploadError)
    async def _upload(_r, e: UploadError):
        return error(e.status, e.message)

    @app.exception_handler(BodyTooLarge)
    async def _big(_r, e: BodyTooLarge):
        return error(413, str(e))

    @app.exception_handler(ConfigError)
    @app.exception_handler(ImageReadError)
    async def _bad(_r, e: OsldError):
        return error(400, str(e))

    @app.exception_handler(RegistryError)
    async def _missing(_r, e: RegistryError):
        return error(404, str(e))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_r, e: StarletteHTTPException):
        if isinstance(e.__cause__, BodyTooLarge):  # FastAPI wraps errors raised while it parses the body
            return error(413, str(e.__cause__))
        return JSONResponse({"error": str(e.detail)}, status_code=e.status_code, headers=e.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_r, e: RequestValidationError):
        parts = [f"{'.'.join(str(x) for x in err.get('loc', ()))}: {err.get('msg')}" for err in e.errors()]
        return error(422, "; ".join(parts) or "invalid request")

    def require_key(request: Request) -> None:
        if not config.api_key:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(token.strip().encode(), config.api_key.encode()):
            raise StarletteHTTPException(401, "this server needs an API key: Authorization: Bearer KEY",
                                         headers={"WWW-Authenticate": "Bearer"})

    def require_multipart(request: Request) -> None:
        ctype = request.headers.get("content-type", "")
        if not ctype.lower().startswith("multipart/form-data"):
            raise UploadError(415, f"expected a multipart/form-data upload (field 'files'), got {ctype or 'none'!r}")

    async def read_uploads(files: list[UploadFile]) -> list[tuple[str, bytes, str | None]]:
        if len(files) > config.max_files:
            raise UploadError(413, f"{len(files)} files is more than the {config.max_files}-file limit")
        out = []
        for i, f in enumerate(files):
            data = await f.read(config.max_upload_bytes + 1)
            out.append((f.filename or f"upload{i}", data, f.content_type))
        return out

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(str(STATIC / "index.html"))

    @app.get("/healthz", tags=["ops"])
    async def healthz():
        return {"status": "ok"}

    @app.get("/metrics", tags=["ops"])
    async def metrics():
        return Response(generate_latest(reg), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/info", tags=["detect"])
    async def info():
        """Defaults and limits (the page uses them for its sliders)."""
        return {"conf": service.default_conf, "conf_floor": service.conf_floor, "min_sim": service.default_min_sim,
                "top_k": service.default_top_k, "max_top_k": config.max_top_k,
                "max_upload_mb": config.max_upload_mb, "max_files": config.max_files,
                "auth_required": bool(config.api_key)}

    @app.post("/v1/detect", tags=["detect"], dependencies=[Depends(require_multipart)])
    async def detect(files: Annotated[list[UploadFile], File(description="One or more images.")],
                     conf: Annotated[float | None, Query(ge=0, le=1, description="Detector score threshold.")] = None,
                     min_sim: Annotated[float | None, Query(ge=-1, le=1, description="Below: 'unknown'.")] = None,
                     top_k: Annotated[int | None, Query(ge=1, le=50, description="Alternatives per box.")] = None):
        """One ``osld detect`` JSONL record per uploaded image, in upload order. An image that cannot be used gets
        a record with ``error``; when every image fails, the first failure is the (4xx) response."""
        if conf is not None and conf < service.conf_floor:
            raise UploadError(422, f"conf {conf} is below this server's floor {service.conf_floor} (--conf-floor)")
        if top_k is not None and top_k > config.max_top_k:
            raise UploadError(422, f"top_k {top_k} is above this server's maximum {config.max_top_k}")
        uploads = await read_uploads(files)
        records: list = [None] * len(uploads)
        failures, pending = [], []
        for i, (name, data, ctype) in enumerate(uploads):
            try:
                image = await anyio_run(service.decode, data, name, ctype)
            except UploadError as e:
                failures.append(e)
                records[i] = {"image": name, "width": None, "height": None, "detections": [], "error": e.message}
                m["images"].labels("rejected").inc()
                continue
            pending.append((i, service.detect(image, name, conf, min_sim, top_k)))
        # one request's images are submitted together, so they can share a model call
        for (i, _), rec in zip(pending, await asyncio.gather(*(c for _, c in pending)), strict=True):
            records[i] = rec
            m["images"].labels("ok").inc()
        if failures and len(failures) == len(records):
            raise failures[0]
        return {"results": records}

    @app.get("/v1/brands", tags=["registry"])
    async def brands():
        counts = service.brands()
        return {"brands": [{"brand": b, "images": n, "thumbnail": f"/v1/brands/{b}/thumbnail"}
                           for b, n in counts.items()]}

    @app.get("/v1/brands/{brand}", tags=["registry"])
    async def brand_detail(brand: brand_path):
        files = service.brand_images(brand)
        return {"brand": brand, "images": [
            {"name": p.name, "bytes": p.stat().st_size, "url": f"/v1/brands/{brand}/images/{p.name}",
             "thumbnail": f"/v1/brands/{brand}/images/{p.name}?size=128"} for p in files]}

    @app.get("/v1/brands/{brand}/thumbnail", tags=["registry"])
    async def brand_thumbnail(brand: brand_path, size: Annotated[int, Query(ge=16, le=512)] = 128):
        """A PNG thumbnail of the brand's first image."""
        png = await anyio_run(service.thumbnail, service.brand_images(brand)[0], size)
        return Response(png, media_type="image/png", headers={"Cache-Control": "no-cache"})

    @app.get("/v1/brands/{brand}/images/{name}", tags=["registry"])
    async def brand_image(brand: brand_path, name: str, size: Annotated[int | None, Query(ge=16, le=512)] = None):
        """A registry image as stored, or a PNG thumbnail with ``size``."""
        path = service.image_file(brand, name)
        if size is None:
            return FileResponse(str(path))
        return Response(await anyio_run(service.thumbnail, path, size), media_type="image/png")

    @app.post("/v1/brands/{brand}/images", tags=["registry"], status_code=201,
              dependencies=[Depends(require_key), Depends(require_multipart)])
    async def brand_add(brand: brand_path, files: Annotated[list[UploadFile], File(description="Logo images.")]):
        """Register logo images for a brand (new or existing): validated, copied, index updated atomically."""
        uploads = await read_uploads(files)
        added = await anyio_run(service.add, brand, uploads)
        return {"brand": brand, "added": [p.name for p in added], "images": service.brands().get(brand, 0)}

    @app.delete("/v1/brands/{brand}", tags=["registry"], dependencies=[Depends(require_key)])
    async def brand_remove(brand: brand_path):
        n = await anyio_run(service.remove, brand)
        return {"brand": brand, "removed_images": n}

    return app


async def anyio_run(fn, *args):
    """Blocking work (decoding, embedding, file I/O) off the event loop."""
    return await anyio.to_thread.run_sync(fn, *args)
