"""Queries and updates of campaigns, their rounds, picks, ingested files and measurements.

Visibility is decided here, once: a campaign belongs to a partner or to nobody; a viewer who belongs
to a partner sees that partner's campaigns only, a viewer without one (the operator) sees every campaign.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.orm import Session, selectinload

from fedadmet.exceptions import InputError
from fedadmet.registry.tables import (
    Campaign,
    CampaignIngest,
    CampaignMeasurement,
    CampaignPick,
    CampaignRound,
)


def _visible(viewer_partner: str | None) -> ColumnElement[bool]:
    return true() if viewer_partner is None else Campaign.partner == viewer_partner


def create_campaign(session: Session, *, name: str, partner: str | None, **fields: Any) -> Campaign:
    """A new campaign; its name is unique over every partner (it names the folder of its order files)."""
    if session.scalar(select(Campaign.id).where(Campaign.name == name)) is not None:
        raise InputError(f"a campaign named {name!r} exists already", expected="another name")
    campaign = Campaign(name=name, partner=partner, **fields)
    session.add(campaign)
    session.flush()
    return campaign


def get_campaign(session: Session, name_or_id: str | int, viewer_partner: str | None) -> Campaign | None:
    """The campaign by id or name if the viewer may see it; None otherwise (as if it did not exist)."""
    key = Campaign.id == int(name_or_id) if str(name_or_id).isdigit() else Campaign.name == str(name_or_id)
    query = select(Campaign).options(selectinload(Campaign.rounds)).where(key, _visible(viewer_partner))
    return session.scalar(query)


def list_campaigns(session: Session, viewer_partner: str | None) -> list[Campaign]:
    query = select(Campaign).options(selectinload(Campaign.rounds)).where(_visible(viewer_partner))
    return list(session.scalars(query.order_by(Campaign.id.desc())))


def last_round(session: Session, campaign_id: int) -> int:
    return session.scalar(select(func.max(CampaignRound.round)).where(CampaignRound.campaign_id == campaign_id)) or 0


def record_round(
    session: Session,
    campaign_id: int,
    round_number: int,
    *,
    strategy: str,
    model: dict[str, Any],
    order_files: Sequence[str],
    picks: Sequence[dict[str, Any]],
) -> CampaignRound:
    """A round with its picks, in the caller's transaction: a proposal is recorded whole or not at all."""
    row = CampaignRound(
        campaign_id=campaign_id, round=round_number, strategy=strategy, model=model, order_files=list(order_files)
    )
    session.add(row)
    session.flush()
    session.add_all(CampaignPick(campaign_id=campaign_id, round_id=row.id, **pick) for pick in picks)
    session.flush()
    return row


def list_picks(session: Session, campaign_id: int) -> list[CampaignPick]:
    query = (
        select(CampaignPick).options(selectinload(CampaignPick.round)).where(CampaignPick.campaign_id == campaign_id)
    )
    return list(session.scalars(query.order_by(CampaignPick.round_id, CampaignPick.rank)))


def find_ingest(session: Session, campaign_id: int, sha256: str) -> CampaignIngest | None:
    query = select(CampaignIngest).where(CampaignIngest.campaign_id == campaign_id, CampaignIngest.sha256 == sha256)
    return session.scalar(query)


def record_ingest(
    session: Session,
    campaign_id: int,
    *,
    filename: str,
    sha256: str,
    rows: int,
    rejects: Sequence[dict[str, Any]],
    measurements: Sequence[dict[str, Any]],
) -> CampaignIngest:
    """A results file and the measurements it gave, in the caller's transaction."""
    ingest = CampaignIngest(
        campaign_id=campaign_id,
        filename=filename,
        sha256=sha256,
        rows=rows,
        stored=len(measurements),
        rejects=list(rejects),
    )
    session.add(ingest)
    session.flush()
    session.add_all(
        CampaignMeasurement(campaign_id=campaign_id, ingest_id=ingest.id, **measurement) for measurement in measurements
    )
    session.flush()
    return ingest


def list_ingests(session: Session, campaign_id: int) -> list[CampaignIngest]:
    query = select(CampaignIngest).where(CampaignIngest.campaign_id == campaign_id)
    return list(session.scalars(query.order_by(CampaignIngest.id)))


def list_measurements(session: Session, campaign_id: int) -> list[CampaignMeasurement]:
    query = select(CampaignMeasurement).where(CampaignMeasurement.campaign_id == campaign_id)
    return list(session.scalars(query.order_by(CampaignMeasurement.id)))


def set_calibration(session: Session, round_id: int, calibration: dict[str, Any]) -> None:
    row = session.get(CampaignRound, round_id)
    if row is None:
        raise KeyError(f"no campaign round {round_id}")
    row.calibration = calibration
