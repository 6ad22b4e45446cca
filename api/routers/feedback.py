"""Technicians' ratings of notes: through the API with a tenant key, or through the link in
the note, which needs no key (its signed token names the one note it may rate)."""

from __future__ import annotations

import html
import json
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Path, Request, status
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from aiops.feedback_token import feedback_url, make_token, read_token
from api.agent_models import FeedbackIn, FeedbackLinkOut, FeedbackOut
from api.deps import AdminScopeDep, BoxDep, DbDep, ReadScopeDep, SettingsDep, errors
from warehouse import note_feedback

router = APIRouter(prefix="/tenants/{tenant_id}/enhancements/{event_id}", tags=["feedback"])
public = APIRouter(prefix="/feedback", tags=["feedback"])

_MAX_FORM_BYTES = 8_192
_NO_NOTE = "this rating link is not valid (or its note is gone)"


@router.get("/feedback", response_model=list[FeedbackOut], responses=errors(401, 404))
def list_feedback(scope: ReadScopeDep, event_id: str) -> list[FeedbackOut]:
    with scope.connection() as conn:
        rows = note_feedback.for_event(conn, event_id)
    return [FeedbackOut.model_validate(r) for r in rows]


@router.post(
    "/feedback",
    response_model=FeedbackOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 404, 422),
)
def add_feedback(scope: AdminScopeDep, event_id: str, body: FeedbackIn) -> FeedbackOut:
    """A rating of the event's note: helpful or not, with an optional comment."""
    with scope.connection() as conn:
        row = note_feedback.add(conn, event_id, body.helpful, body.comment, body.technician, "api")
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no event {event_id!r} for this tenant")
    return FeedbackOut.model_validate(row)


@router.get("/feedback-link", response_model=FeedbackLinkOut, responses=errors(401, 404))
def feedback_link(
    scope: ReadScopeDep, box: BoxDep, settings: SettingsDep, event_id: str
) -> FeedbackLinkOut:
    """The rating link the event's note carries."""
    token = make_token(box, scope.tenant_id, event_id)
    return FeedbackLinkOut(event_id=event_id, url=feedback_url(settings.api_base_url, token))


_Token = Annotated[str, Path(max_length=600)]

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Rate this AI Ops note</title></head><body style="font-family:sans-serif;max-width:40em">
<h1>Was this AI Ops note helpful?</h1>{body}</body></html>"""

_FORM = """<p>Ticket {ticket}. Your answer goes to the team that configures these notes.</p>
<form method="post">
<p><label>Comment (optional)<br><textarea name="comment" rows="4" cols="50"
maxlength="2000"></textarea></label></p>
<p><label>Your name (optional) <input name="technician" maxlength="200"></label></p>
<p><button name="helpful" value="yes">Helpful</button>
<button name="helpful" value="no">Not helpful</button></p></form>"""


def _page(body: str, code: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(body=body), status_code=code)


@public.get("/{token}", response_class=HTMLResponse, responses={404: {"description": _NO_NOTE}})
def rating_page(token: _Token, box: BoxDep, db: DbDep) -> HTMLResponse:
    """The page the note links to: two buttons and a comment box. Viewing it rates nothing."""
    ref = read_token(box, token)
    ticket = note_feedback.ticket_of(db, ref) if ref is not None else None
    if ticket is None:
        return _page(f"<p>{_NO_NOTE}.</p>", 404)
    return _page(_FORM.format(ticket=html.escape(ticket)))


async def _rating(request: Request) -> FeedbackIn:
    raw = await request.body()
    if len(raw) > _MAX_FORM_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "the rating is too long")
    if request.headers.get("content-type", "").startswith("application/json"):
        data = json.loads(raw or b"{}")
    else:
        form = {k: v[0] for k, v in parse_qs(raw.decode(errors="replace")).items()}
        data = {**form, "helpful": form.get("helpful") == "yes"}
    try:
        return FeedbackIn.model_validate(data)
    except ValidationError as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "send helpful (yes or no) and an optional comment of up to 2,000 characters",
        ) from exc


@public.post("/{token}", response_class=HTMLResponse, responses={404: {"description": _NO_NOTE}})
async def rate(token: _Token, request: Request, box: BoxDep, db: DbDep) -> HTMLResponse:
    """Records the rating: the page's form (urlencoded) or JSON {helpful, comment}."""
    ref = read_token(box, token)
    if ref is None:
        return _page(f"<p>{_NO_NOTE}.</p>", 404)
    rating = await _rating(request)
    saved = note_feedback.add_by_link(db, ref, rating.helpful, rating.comment, rating.technician)
    if not saved:
        return _page(f"<p>{_NO_NOTE}.</p>", 404)
    return _page("<p>Thank you: your rating is recorded.</p>", 201)
