"""Parties' mobile quick-handling flow (快处快赔)."""
from fastapi import APIRouter

router = APIRouter(tags=["quick handling"])
