"""Placeholder: this area's routes land in a following commit."""

from fastapi import APIRouter

router = APIRouter()
