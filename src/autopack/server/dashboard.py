"""The dashboard: server-rendered pages that read without JavaScript; htmx and SSE make them live.

Pages use the API's own read functions. Sign-in stores the token in an HttpOnly, SameSite=Strict
cookie; the cookie opens reads only (see auth.py). Sign-out only forgets the cookie in this
browser: the token stays valid (`autopack token revoke` ends it everywhere).
"""

from __future__ import annotations

from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from autopack.run.events import describe
from autopack.server import api_reports
from autopack.server.api_runs import RunId, record_of, run_issues, settings_of_run, strategy_of
from autopack.server.auth import COOKIE, identify
from autopack.server.context import ServerContext, context_of
from autopack.server.problems import Problem
from autopack.store.progress import progress_after
from autopack.store.projects import run_ids_of_projects
from autopack.store.reports import list_run_listings, run_listing, spend_by
from autopack.store.tokens import TokenInfo, verify_token
from autopack.workspace.registry import git_for

router = APIRouter(prefix="/ui", include_in_schema=False)
templates = Jinja2Templates(directory=str(resources.files("autopack.server").joinpath("templates")))
STATIC = StaticFiles(directory=str(resources.files("autopack.server").joinpath("static")))

PROGRESS_LINES = 200
DIFF_CHARS = 40_000
LIVE_KINDS = (
    "run_started",
    "tier_started",
    "phase_started",
    "attempt",
    "built",
    "verified",
    "audited",
    "rejected",
    "committed",
    "tier_finished",
    "run_finished",
)


class SignInRequired(Exception):
    """A page asked for without a valid token: answered with a redirect to the sign-in page."""


async def _viewer(request: Request) -> TokenInfo:
    info = await identify(request, cookie=True)
    if info is None:
        raise SignInRequired()
    return info


def _page(request: Request, name: str, *, signed_in: bool = True, **values: Any) -> HTMLResponse:
    context = context_of(request)
    response = templates.TemplateResponse(
        request, name, {"project_id": context.project_id, "signed_in": signed_in, **values}
    )
    # After sign-out, Back must not show a page from the browser's cache.
    response.headers["cache-control"] = "no-store"
    return response


def _same_origin(request: Request) -> None:
    """Sign-in and sign-out change what the browser holds, so they come from our own pages only.

    SameSite=Strict already keeps the cookie off other sites' requests; this also stops another
    site from signing a browser out, or into an account of the attacker's choosing. Browsers send
    Sec-Fetch-Site; clients that are not browsers send nothing and are let through.
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise Problem(403, "Forbidden", f"a {site} request cannot sign in or out")


@router.get("/login")
def login_form(request: Request) -> HTMLResponse:
    return _page(request, "login.html", signed_in=False, error=None)


@router.post("/login")
async def login(request: Request, token: Annotated[str, Form(max_length=200)]) -> Response:
    _same_origin(request)
    info = await run_in_threadpool(verify_token, context_of(request).database, token.strip())
    if info is None:
        return _page(
            request, "login.html", signed_in=False, error="That token is unknown or revoked."
        )
    response = RedirectResponse("/ui/", status_code=303)
    response.set_cookie(COOKIE, token.strip(), httponly=True, samesite="strict", path="/")
    return response


@router.post("/sign-out")
def sign_out(request: Request) -> Response:
    # Takes no input and always lands on our sign-in page: nothing to redirect elsewhere or act
    # on. The token is not revoked, so a forged sign-out could at worst sign one browser out.
    _same_origin(request)
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/")
async def runs_page(request: Request) -> HTMLResponse:
    info = await _viewer(request)
    return _page(request, "runs.html", **_runs(context_of(request), info))


@router.get("/fragments/runs")
async def runs_fragment(request: Request) -> HTMLResponse:
    info = await _viewer(request)
    return _page(request, "_runs_table.html", **_runs(context_of(request), info))


def _runs(context: ServerContext, info: TokenInfo) -> dict[str, Any]:
    """Every project's runs the token may see."""
    run_ids = None
    if info.projects is not None:
        run_ids = run_ids_of_projects(context.database, info.projects)
    runs, total = list_run_listings(context.database, run_ids=run_ids, limit=100)
    return {"runs": runs, "total": total}


@router.get("/runs/{run_id}")
async def run_page(run_id: RunId, request: Request) -> HTMLResponse:
    info = await _viewer(request)
    values = await run_in_threadpool(_run_values, request, run_id, info)
    values["commits"] = await run_in_threadpool(_commits, context_of(request), run_id, info)
    return _page(request, "run.html", **values)


@router.get("/fragments/runs/{run_id}")
async def run_fragment(run_id: RunId, request: Request) -> HTMLResponse:
    info = await _viewer(request)
    values = await run_in_threadpool(_run_values, request, run_id, info)
    return _page(request, "_run_live.html", **values)


@router.get("/fragments/runs/{run_id}/commits")
async def commits_fragment(run_id: RunId, request: Request) -> HTMLResponse:
    info = await _viewer(request)
    commits = await run_in_threadpool(_commits, context_of(request), run_id, info)
    return _page(request, "_run_commits.html", commits=commits)


def _run_values(request: Request, run_id: str, info: TokenInfo) -> dict[str, Any]:
    """Everything the run page shows, from one read of the run (it is re-read on every event)."""
    context = context_of(request)
    record = record_of(context, run_id, info)
    listing = run_listing(context.database, run_id)
    strategy = strategy_of(record)
    events = progress_after(context.database, 0, run_id=run_id, limit=100_000)
    lines = [line for e in events if (line := describe(e.as_message())) is not None]
    issues: dict[str, list[Any]] = {}
    for entry in run_issues(run_id, request, info).entries:
        for phase_id in entry.phases:
            issues.setdefault(phase_id, []).append(entry)
    return {
        "run": listing,
        "tiers": record.tiers,
        "base_branch": record.base_branch,
        "budget_tokens": strategy.limits.budget.tokens,
        "budget_usd": strategy.limits.budget.usd,
        "progress": lines[-PROGRESS_LINES:],
        "last_event_id": events[-1].id if events else 0,
        "issues": issues,
        "by_role": spend_by(context.database, "role", run_id=run_id),
        "by_model": spend_by(context.database, "model", run_id=run_id),
        "live_triggers": ", ".join(f"sse:{kind}" for kind in LIVE_KINDS),
    }


def _commits(context: ServerContext, run_id: str, info: TokenInfo) -> list[dict[str, str]]:
    record = record_of(context, run_id, info)
    if record.base_commit is None:
        return []
    git = git_for(settings_of_run(context, record))
    try:
        status = git.integration_status(run_id, record.base_commit)
    except Exception:  # the run has not made its branch yet
        return []
    return [
        {"sha": c.sha, "subject": c.subject, "diff": git.show_commit(c.sha)[:DIFF_CHARS]}
        for c in reversed(status.commits)
    ]


@router.get("/backlog")
async def backlog_page(request: Request) -> HTMLResponse:
    info = await _viewer(request)
    summary = api_reports.backlog_report(request, info, top=20, project=None)
    return _page(request, "backlog.html", summary=summary)


@router.get("/budget")
async def budget_page(request: Request) -> HTMLResponse:
    info = await _viewer(request)
    report = api_reports.budget_report(request, info, top=10, project=None)
    return _page(request, "budget.html", report=report)


async def _sign_in(request: Request, error: Exception) -> Response:
    return RedirectResponse("/ui/login", status_code=303)


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/ui/static", STATIC, name="static")
    app.add_exception_handler(SignInRequired, _sign_in)
