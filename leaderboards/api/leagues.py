"""Leagues: `GET /leaderboards/{slug}/players/{player_id}/bucket/` (the player's bucket,
ranked) and `GET /leaderboards/{slug}/buckets/{n}/entries/` (one bucket, paged). The rules
are leaderboards/leagues.py's."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.views import APIView

from config.openapi import BOARD_NOT_FOUND, not_found
from config.pagination import MAX_OFFSET, PageFilterSerializer, counted_page_response
from config.renderers import json_response
from leaderboards.api import openapi as docs
from leaderboards.api.serializers import validated_input
from leaderboards.cache.catalog import catalog
from leaderboards.leagues import bucket_of
from leaderboards.models import Board
from leaderboards.selectors import board_bucket_entries

BUCKET = OpenApiParameter(
    "bucket", int, OpenApiParameter.PATH, description="The bucket's number, from 1."
)


def _league(slug: str) -> Board:
    board = catalog.board(slug)
    if board.bucket_size is None:
        raise NotFound(f"Board {board.slug!r} is not a league (it has no bucket_size).")
    return board


class PlayerBucketApi(APIView):
    @extend_schema(
        operation_id="boards_players_bucket_retrieve",
        summary="A player's bucket of a league board",
        description=(
            "The bucket the player was placed in (in the order players first scored, "
            "`bucket_size` to a bucket), ranked among its players by the board's rules."
        ),
        parameters=[docs.BOARD_SLUG, docs.PLAYER_ID],
        responses={
            200: OpenApiResponse(
                docs.PLAYER_BUCKET,
                description="The player's bucket.",
                examples=[OpenApiExample("Bucket", value=docs.PLAYER_BUCKET_EXAMPLE)],
            ),
            404: not_found("Player 'p404' has no place on board 'league'."),
        },
    )
    def get(self, request, slug: str, player_id: str):
        board = _league(slug)
        bucket = None if "\x00" in player_id else bucket_of(board, player_id)
        if bucket is None:
            raise NotFound(f"Player {player_id!r} has no place on board {board.slug!r}.")
        count, entries = board_bucket_entries(board, bucket, offset=0, limit=board.bucket_size)
        return json_response(request, {"bucket": bucket, "count": count, "results": entries})


class BucketEntriesApi(APIView):
    class FilterSerializer(PageFilterSerializer):
        pass

    @extend_schema(
        operation_id="boards_buckets_entries_list",
        summary="One bucket of a league board",
        parameters=[docs.BOARD_SLUG, BUCKET, FilterSerializer],
        responses={
            200: OpenApiResponse(
                docs.ENTRY_PAGE,
                description="One page of the bucket's ranking.",
                examples=[docs.ENTRY_PAGE_EXAMPLE],
            ),
            404: BOARD_NOT_FOUND,
        },
    )
    def get(self, request, slug: str, bucket: int):
        board = _league(slug)
        page = validated_input(self.FilterSerializer, request.query_params)
        if not 1 <= bucket <= MAX_OFFSET:
            raise serializers.ValidationError(
                {"bucket": [f"Buckets are numbered from 1 (to at most {MAX_OFFSET})."]}
            )
        count, entries = board_bucket_entries(
            board, bucket, offset=page["offset"], limit=page["limit"]
        )
        return counted_page_response(
            request, count=count, offset=page["offset"], limit=page["limit"], results=entries
        )
