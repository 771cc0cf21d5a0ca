"""The learn page's JSON API and its event stream: one training job per server.

    POST /api/learn/params    settings -> parameter counts of the stack as conv / local / mlp
    POST /api/learn/start     settings -> a new job, paused before its first step (409 while
                              another job is live; 400 past the memory budget)
    POST /api/learn/control   {action: play | pause | step | epoch}
    POST /api/learn/sample    {index}: the test sample whose maps and prediction are shown
    POST /api/learn/backprop  {index: [k, c, *tap]}: one first-layer weight's gradient as a sum
    POST /api/learn/save      writes ./runs/<name> (the only write the server makes)
    POST /api/learn/reset     stops and drops the job
    GET  /api/learn/state     the job's figures (``LearnJob.snapshot``)
    GET  /api/learn/stream    the same figures as Server-Sent Events, each time they change

Settings are read by ``learn_settings``; the job is ``learn_job.LearnJob``.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import OrderedDict
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from .. import data as datasets
from .. import models
from ..errors import GridnnError
from ..explain.summary import summary
from ..nn.trace import trace
from . import learn_settings as ls
from .http import ApiError, get_choice, get_int, json_body
from .learn_job import LearnJob

STREAM_SECONDS = 300  # a stream ends after this (EventSource reconnects), so none lives forever
STREAM_POLL = 0.1  # how often a stream looks for new figures
KEEPALIVE_SECONDS = 15


class LearnHub:
    """The server's one learn job, and the datasets it has loaded (the last two)."""

    def __init__(self) -> None:
        self.job: LearnJob | None = None
        self.lock = threading.Lock()
        self.closed = False
        self.streams = 0  # event streams open now
        self._bundles: OrderedDict[tuple[str, int], Any] = OrderedDict()
        self._loading = threading.Lock()
        self._count = 0

    def bundle(self, name: str, seed: int) -> Any:
        with self._loading:  # request threads ask at once; each dataset is loaded once
            return self._bundle(name, seed)

    def _bundle(self, name: str, seed: int) -> Any:
        key = (name, seed)
        if key not in self._bundles:
            try:
                self._bundles[key] = datasets.load_dataset(name, seed=seed)
            except GridnnError as exc:
                hint = {n: where for n, ok, where in datasets.available_datasets()}.get(name, "")
                raise ApiError(400, "data", f"{exc}" + (f" ({hint})" if hint else "")) from None
            while len(self._bundles) > 2:
                self._bundles.popitem(last=False)
        self._bundles.move_to_end(key)
        return self._bundles[key]

    def live_job(self) -> LearnJob:
        if self.job is None:
            raise ApiError(404, None, "no learn job: start one (POST /api/learn/start)")
        return self.job

    def start(self, settings: ls.Settings) -> LearnJob:
        bundle = self.bundle(settings.data, settings.seed)
        config = ls.make_config(settings, bundle)
        shape = tuple(bundle.input_shape)
        if settings.model == "stack":
            params = ls.stack_params(settings, shape, bundle.num_classes, settings.connect)
            ls.check_budget(ls.estimate_bytes(params, 0, 1), f"this stack ({params:,} weights)")
        with self.lock:
            if self.job is not None and self.job.live:
                raise ApiError(409, None, f"a learn job is running ({self.job.name}, "
                                          f"{self.job.status}); reset it first")
            model = build(config)
            _, calls = trace(model, shape)
            activations = sum(c.output.data.size for c in calls)
            params = sum(p.data.size for p in model.parameters())
            ls.check_budget(ls.estimate_bytes(params, activations, config["train"]["batch_size"]),
                            f"{config['model']['name']} ({params:,} weights) with batches of "
                            f"{config['train']['batch_size']}")
            self._count += 1
            self.job = LearnJob(config, bundle, self._count, model)
            return self.job

    def reset(self) -> None:
        with self.lock:
            job, self.job = self.job, None
        if job is not None:
            job.stop()

    def shutdown(self) -> None:
        """Stop the job (the server is going away) and end the streams."""
        self.closed = True
        self.reset()


def build(config: dict[str, Any]) -> Any:
    """The config's model; 400 naming the model when its factory refuses the settings."""
    spec = config["model"]
    try:
        return models.build(spec["name"], **spec["kwargs"])
    except GridnnError as exc:
        raise ApiError(400, "model", str(exc)) from None


def param_counts(hub: LearnHub, settings: ls.Settings) -> dict[str, Any]:
    """The stack's parameters as conv, local and mlp (gn.summary's totals when the model fits
    the memory budget; the count from the shapes otherwise), or the zoo model's."""
    bundle = hub.bundle(settings.data, settings.seed)
    shape = tuple(bundle.input_shape)
    config = ls.make_config(settings, bundle)
    counts: dict[str, Any] = {}
    kinds = models.CONNECTS if settings.model == "stack" else (settings.model,)
    for kind in kinds:
        estimate = ls.stack_params(settings, shape, bundle.num_classes, kind) \
            if settings.model == "stack" else None
        fits = estimate is None or ls.estimate_bytes(estimate, 0, 1) <= ls.MEMORY_BUDGET
        if fits:
            cfg = {**config, "model": {**config["model"], "kwargs": {
                **config["model"]["kwargs"], **({"connect": kind} if estimate is not None
                                                else {})}}}
            total = summary(build(cfg), shape).total_params
        counts[kind] = {"params": int(total if fits else estimate), "fits": fits}
    return {"counts": counts, "input_shape": list(shape), "classes": bundle.num_classes,
            "train_images": len(bundle.train), "test_images": len(bundle.test),
            "budget_mib": ls.MEMORY_BUDGET >> 20}


def options() -> dict[str, Any]:
    """What the page offers: datasets (available or how to get them), models, limits."""
    available = {n: (ok, where) for n, ok, where in datasets.available_datasets()}
    from .. import recipes

    return {
        "datasets": [{"name": n, "available": available.get(n, (True, ""))[0],
                      "where": available.get(n, (True, ""))[1],
                      "defaults": {k: recipes.recipe(n)[k] for k in recipes.TRAIN_KEYS}}
                     for n in ls.PAGE_DATASETS],
        "models": list(ls.PAGE_MODELS), "connects": list(models.CONNECTS),
        "optimizers": list(recipes.OPTIMIZERS), "schedules": list(recipes.SCHEDULES),
        "default_layers": [dict(ls.STACK_DEFAULTS, **layer) for layer in models.DEFAULT_STACK],
        "limits": {"layers": ls.MAX_LAYERS, "channels": ls.MAX_CHANNELS,
                   "kernel": ls.MAX_KERNEL, "stride": ls.MAX_STRIDE,
                   "padding": ls.MAX_PADDING, "dilation": ls.MAX_DILATION,
                   "pool": ls.MAX_POOL, "hidden": ls.MAX_HIDDEN, "batch_size": ls.MAX_BATCH,
                   "epochs": ls.MAX_EPOCHS},
        "budget_mib": ls.MEMORY_BUDGET >> 20,
    }


def _backprop(job: LearnJob, index: list[int]) -> dict[str, Any]:
    from . import learn_views as views

    with job.busy:
        step = job.last_step
        if job.status == "playing" or step is None:
            raise ApiError(409, None, "pause after at least one step: the panel explains the "
                                      "gradient of the last step")
        out = views.backprop(job.model, step["weights"], step["rng"], step["batch"],
                             tuple(index))
        name = out["layer"]
        params = list(job.model.parameters())
        weight = dict(job.model.named_modules())[name].weight
        at = next(i for i, p in enumerate(params) if p is weight)
        before = float(step["weights"][at][tuple(index)])
        after = float(weight.data[tuple(index)])
        group = job.optimizer.param_groups[0]
        slot = job.optimizer.state.get(weight, {}) if hasattr(job.optimizer, "state") else {}
        out.update(used=float(step["grads"][at][tuple(index)]), before=before, after=after,
                   lr=step["lr"], step=step["step"], optimizer=type(job.optimizer).__name__,
                   weight_decay=group.get("weight_decay", 0.0),
                   momentum=group.get("momentum"), betas=group.get("betas"),
                   eps=group.get("eps"),
                   state={k: float(v[tuple(index)] if getattr(v, "ndim", 0) else v)
                          for k, v in slot.items()})
        return out


def routes(hub: LearnHub) -> list[Route]:
    """The /api/learn routes, all on ``hub``."""

    async def learn_options(request: Request) -> JSONResponse:
        """What the learn page offers: datasets, models, optimisers, limits."""
        return JSONResponse(await run_in_threadpool(options))

    async def params(request: Request) -> JSONResponse:
        """Parameter counts of the settings' model (the stack as conv, local and mlp)."""
        settings = ls.read_settings(await json_body(request))
        return JSONResponse(await run_in_threadpool(param_counts, hub, settings))

    async def start(request: Request) -> JSONResponse:
        """Start a learn job (paused before its first step); 409 while another is live."""
        settings = ls.read_settings(await json_body(request))
        job = await run_in_threadpool(hub.start, settings)
        return JSONResponse(job.snapshot)

    async def control(request: Request) -> JSONResponse:
        """play, pause, step (one batch) or epoch (to the end of the epoch)."""
        body = await json_body(request)
        action = get_choice(body, "action", ("play", "pause", "step", "epoch"))
        job = hub.live_job()
        job.control(action)
        return JSONResponse({"status": job.status, "steps": job.steps})

    async def sample(request: Request) -> JSONResponse:
        """Choose the test sample whose feature maps and prediction the page shows."""
        job = hub.live_job()
        index = get_int(await json_body(request), "index", lo=0,
                        hi=len(job.bundle.test) - 1)
        await run_in_threadpool(job.choose_sample, index)
        return JSONResponse(job.snapshot)

    async def backprop(request: Request) -> JSONResponse:
        """One first-layer weight's gradient at the last step, as the sum of its terms."""
        body = await json_body(request)
        job = hub.live_job()
        index = body.get("index")
        if not isinstance(index, list) or not 3 <= len(index) <= 4 or not all(
                isinstance(i, int) and not isinstance(i, bool) for i in index):
            raise ApiError(400, "index", f"`index` must be [kernel, channel, *tap] integers, "
                                         f"got {str(index)[:60]}")
        return JSONResponse(await run_in_threadpool(_backprop, job, index))

    async def save(request: Request) -> JSONResponse:
        """Save the run as an ordinary run folder under ./runs (resumable)."""
        job = hub.live_job()

        def write() -> str:
            with job.busy:
                return str(job.save())

        return JSONResponse({"path": await run_in_threadpool(write)})

    async def reset(request: Request) -> JSONResponse:
        """Stop and drop the learn job."""
        await run_in_threadpool(hub.reset)
        return JSONResponse({"status": "reset"})

    async def state(request: Request) -> JSONResponse:
        """The job's figures now (as the stream sends them)."""
        return JSONResponse(hub.live_job().snapshot)

    async def stream(request: Request) -> StreamingResponse:
        """The job's figures as Server-Sent Events: one `data:` line each time they change."""

        async def events() -> Any:
            seen: Any = ()  # no job is None: the first event says so
            idle = waited = 0.0
            hub.streams += 1
            try:
                yield "retry: 1000\n\n"
                while waited < STREAM_SECONDS and not hub.closed:
                    job = hub.job
                    key = None if job is None else (job.id, job.version)
                    if key != seen:
                        seen, idle = key, 0.0
                        body = {"id": None, "status": "none"} if job is None else job.snapshot
                        yield f"data: {json.dumps(body)}\n\n"
                    elif idle > KEEPALIVE_SECONDS:
                        idle = 0.0
                        yield ": keepalive\n\n"
                    await asyncio.sleep(STREAM_POLL)
                    idle += STREAM_POLL
                    waited += STREAM_POLL
            finally:  # the client went away (Starlette cancels us) or the stream ended
                hub.streams -= 1

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"cache-control": "no-store"})

    return [
        Route("/api/learn/options", learn_options, methods=["GET"]),
        Route("/api/learn/params", params, methods=["POST"]),
        Route("/api/learn/start", start, methods=["POST"]),
        Route("/api/learn/control", control, methods=["POST"]),
        Route("/api/learn/sample", sample, methods=["POST"]),
        Route("/api/learn/backprop", backprop, methods=["POST"]),
        Route("/api/learn/save", save, methods=["POST"]),
        Route("/api/learn/reset", reset, methods=["POST"]),
        Route("/api/learn/state", state, methods=["GET"]),
        Route("/api/learn/stream", stream, methods=["GET"]),
    ]
