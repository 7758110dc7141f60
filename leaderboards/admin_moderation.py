"""The admin's moderation (issue 21): staff ban, unban and remove a score from a player's
change page and from a board's (after finding the player on it), erase a player from
their page, and reopen a finalised board. Each action is a confirmation page asking for
the reason, then the service that owns the rule (leaderboards/moderation.py,
leaderboards/erasure.py), audited with the staff user as the actor.

The player's page belongs to the players app, which may not import leaderboards: the
moderated Player admin is a subclass registered in its place from leaderboards/admin.py.
Other actions on a player join it the same way: a view, a URL in `get_urls`, and a
button in the template's `player_actions` block.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
)
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.http import urlencode

from leaderboards.erasure import player_erase
from leaderboards.models import Board, FinalStanding
from leaderboards.moderation import (
    REASON_MAX_LENGTH,
    board_reopen,
    board_score_remove,
    player_ban,
    player_unban,
)
from leaderboards.selectors import player_standings
from players.admin import PlayerAdmin
from players.audit import Actor
from players.models import Player

CONFIRMATION = "admin/leaderboards/moderation_confirmation.html"


class ReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=f"Kept in the audit log, at most {REASON_MAX_LENGTH} characters.",
    )

    def __init__(self, *args: Any, required: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"].required = required


@dataclass(frozen=True)
class Action:
    """One moderation action as its confirmation page tells it."""

    title: str  # "Ban p1?"
    says: list[str]  # what it does, sentence by sentence
    submit: str  # the button: "Yes, ban"
    reason_required: bool
    run: Callable[[str, Actor], str]  # the service, given the reason; says what it did


def actor_of(request: HttpRequest) -> Actor:
    return Actor.admin(request.user.get_username())


def confirm_and_run(
    model_admin: admin.ModelAdmin, request: HttpRequest, action: Action, *, back: str
) -> HttpResponseBase:
    """The action's confirmation page (GET, or a POST with a bad reason); on a good POST
    the action, a message saying what it did (or why it could not), and back to `back`."""
    form = ReasonForm(
        request.POST if request.method == "POST" else None, required=action.reason_required
    )
    if request.method == "POST" and form.is_valid():
        try:
            done = action.run(form.cleaned_data["reason"], actor_of(request))
        except Http404 as exc:
            model_admin.message_user(request, str(exc), messages.ERROR)
        except ValidationError as exc:
            model_admin.message_user(request, " ".join(exc.messages), messages.ERROR)
        else:
            model_admin.message_user(request, done, messages.SUCCESS)
        return HttpResponseRedirect(back)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": action.title,
        "opts": model_admin.model._meta,
        "action": action,
        "form": form,
        "back": back,
    }
    return TemplateResponse(request, CONFIRMATION, context)


def _ban(player_id: str) -> Action:
    def run(reason: str, actor: Actor) -> str:
        player_ban(player_id=player_id, reason=reason, actor=actor)
        return f"{player_id} is banned: hidden from every ranking."

    return Action(
        title=f"Ban {player_id}?",
        says=[
            "The player disappears from every ranking (live and finalised boards, ranks, "
            "standings, CSV, buckets, public pages) and everyone else closes up.",
            "Their events are still stored: an unban restores everything.",
        ],
        submit="Yes, ban",
        reason_required=True,
        run=run,
    )


def _unban(player_id: str) -> Action:
    def run(reason: str, actor: Actor) -> str:
        player_unban(player_id=player_id, reason=reason, actor=actor)
        return f"{player_id} is no longer banned."

    return Action(
        title=f"Lift the ban of {player_id}?",
        says=[
            "Every board shows the player again with everything they scored, before and "
            "during the ban, finalised boards included."
        ],
        submit="Yes, unban",
        reason_required=False,
        run=run,
    )


def _remove_score(board: Board, player_id: str) -> Action:
    def run(reason: str, actor: Actor) -> str:
        board_score_remove(board_slug=board.slug, player_id=player_id, reason=reason, actor=actor)
        return f"The score of {player_id} on {board.slug} is removed."

    says = [
        f"The player's events stamped up to now no longer count on {board.slug}; events "
        "stamped later count from zero. Other boards keep everything, and no event is "
        "deleted.",
    ]
    if board.finalized_at is not None:
        says.append(
            "The board is final: the player's row leaves its final results for good (an "
            "unban does not bring it back), and the others close up."
        )
    return Action(
        title=f"Remove the score of {player_id} on {board.slug}?",
        says=says,
        submit="Yes, remove the score",
        reason_required=False,
        run=run,
    )


def _reopen(board: Board) -> Action:
    def run(reason: str, actor: Actor) -> str:
        board_reopen(board_id=board.pk, reason=reason, actor=actor)
        return f"{board.slug} is reopened. Finalise it again when you are done."

    return Action(
        title=f"Reopen {board.slug}?",
        says=[
            "Its final results are dropped: the board is ranked from the stored events "
            "again, late events included (removed scores stay out), and shows as live or "
            "ended as its window says.",
            "It is not finalised again by itself: use “Finalise now” when you are done.",
        ],
        submit="Yes, reopen",
        reason_required=True,
        run=run,
    )


def _erase(player_id: str) -> Action:
    def run(reason: str, actor: Actor) -> str:
        erasure = player_erase(player_id=player_id, reason=reason, actor=actor)
        if erasure.redis_cleaned is False:
            raise ValidationError(
                "The player is erased from the database, but Redis could not be cleaned: "
                "erase them again (by id, from the API or `manage.py erase_player`)."
            )
        return f"The player is erased; only the hash {erasure.player_hash[:12]}… is kept."

    return Action(
        title=f"Erase {player_id} for good?",
        says=[
            "Everything held on the player goes: the profile, display name and metadata, "
            "every event, rollup, final standing, participation and league place, rejected "
            "events naming them, and all Redis holds of them. Everyone else closes up.",
            "Only a keyed hash of the id is kept, so that events sent again cannot bring "
            "the player back; the audit log names them by that hash. This cannot be undone.",
        ],
        submit="Yes, erase",
        reason_required=False,
        run=run,
    )


def _player_id(request: HttpRequest) -> str:
    player_id = (request.GET.get("player") or request.POST.get("player") or "").strip()
    if not player_id:
        raise Http404("Which player? Find one on the board first.")
    return player_id


class BoardModerationAdmin(admin.ModelAdmin):
    """A board's change page acts on the player found on it (ban, unban, remove their
    score on this board, erase them) and reopens the board once final."""

    def moderation_urls(self) -> list[URLPattern]:
        def view(name: str, handler: Callable[..., HttpResponseBase]) -> URLPattern:
            return path(
                f"<path:object_id>/{name}/",
                self.admin_site.admin_view(handler),
                name=f"leaderboards_board_{name.replace('-', '_')}",
            )

        return [
            view("ban", self.ban_view),
            view("unban", self.unban_view),
            view("remove-score", self.remove_score_view),
            view("erase", self.erase_view),
            view("reopen", self.reopen_view),
        ]

    def _board(self, request: HttpRequest, object_id: str) -> Board:
        board = self.get_object(request, unquote(object_id))
        if board is None:
            raise Http404(f"No board with id {object_id!r}.")
        return board

    def _player_back(self, board: Board, player_id: str) -> str:
        url = reverse("admin:leaderboards_board_change", args=[board.pk])
        return f"{url}?{urlencode({'find_player': player_id})}"

    def _may_moderate(self, request: HttpRequest) -> None:
        if not request.user.has_perm("players.change_player"):
            raise PermissionDenied

    def ban_view(self, request: HttpRequest, object_id: str) -> HttpResponseBase:
        self._may_moderate(request)
        board, player_id = self._board(request, object_id), _player_id(request)
        return confirm_and_run(
            self, request, _ban(player_id), back=self._player_back(board, player_id)
        )

    def unban_view(self, request: HttpRequest, object_id: str) -> HttpResponseBase:
        self._may_moderate(request)
        board, player_id = self._board(request, object_id), _player_id(request)
        return confirm_and_run(
            self, request, _unban(player_id), back=self._player_back(board, player_id)
        )

    def remove_score_view(self, request: HttpRequest, object_id: str) -> HttpResponseBase:
        self._may_moderate(request)
        board, player_id = self._board(request, object_id), _player_id(request)
        action = _remove_score(board, player_id)
        return confirm_and_run(self, request, action, back=self._player_back(board, player_id))

    def erase_view(self, request: HttpRequest, object_id: str) -> HttpResponseBase:
        if not request.user.has_perm("players.delete_player"):
            raise PermissionDenied
        board, player_id = self._board(request, object_id), _player_id(request)
        back = reverse("admin:leaderboards_board_change", args=[board.pk])
        return confirm_and_run(self, request, _erase(player_id), back=back)

    def reopen_view(self, request: HttpRequest, object_id: str) -> HttpResponseBase:
        board = self._board(request, object_id)
        if not self.has_change_permission(request, board):
            raise PermissionDenied
        back = reverse("admin:leaderboards_board_change", args=[board.pk])
        if board.finalized_at is None:
            self.message_user(request, f"{board.slug} is not final.", messages.INFO)
            return HttpResponseRedirect(back)
        return confirm_and_run(self, request, _reopen(board), back=back)


def player_moderation(player: Player | None) -> dict:
    """What the player's change page shows under "Moderation": their ban, and the boards
    where they have a score (live, and the final results of the last finalised boards)."""
    if player is None:
        return {}
    live = [(s.board, s.rank, s.score) for s in player_standings(player.external_id)]
    finals = (
        FinalStanding.objects.filter(player=player, position__isnull=False)
        .select_related("board")
        .order_by("-board__finalized_at")[:20]
    )
    return {
        "moderated_player": player,
        "scores": live + [(f.board.slug, f.rank, f.score) for f in finals],
    }


class ModeratedPlayerAdmin(PlayerAdmin):
    """The player's change page with its moderation: ban, unban, remove a score on a board
    (from the list of boards where they have one, or any board by slug), erase (staff who
    may delete players)."""

    change_form_template = "admin/leaderboards/player_change_form.html"

    def get_urls(self) -> list[URLPattern]:
        def view(name: str, handler: Callable[..., HttpResponseBase]) -> URLPattern:
            return path(
                f"<path:object_id>/{name}/",
                self.admin_site.admin_view(handler),
                name=f"players_player_{name.replace('-', '_')}",
            )

        return [
            view("ban", self.ban_view),
            view("unban", self.unban_view),
            view("remove-score", self.remove_score_view),
            view("erase", self.erase_view),
            *super().get_urls(),
        ]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        player = self.get_object(request, unquote(object_id))
        extra = {**(extra_context or {}), **player_moderation(player)}
        return super().change_view(request, object_id, form_url, extra)

    def _player(self, request: HttpRequest, object_id: str) -> Player:
        player = self.get_object(request, unquote(object_id))
        if player is None:
            raise Http404(f"No player with id {object_id!r}.")
        if not self.has_change_permission(request, player):
            raise PermissionDenied
        return player

    def _back(self, player: Player) -> str:
        return reverse("admin:players_player_change", args=[player.pk])

    def ban_view(self, request: HttpRequest, object_id: str) -> HttpResponseBase:
        player = self._player(request, object_id)
        return confirm_and_run(self, request, _ban(player.external_id), back=self._back(player))

    def unban_view(self, request: HttpRequest, object_id: str) -> HttpResponseBase:
        player = self._player(request, object_id)
        action = _unban(player.external_id)
        return confirm_and_run(self, request, action, back=self._back(player))

    def remove_score_view(self, request: HttpRequest, object_id: str) -> HttpResponseBase:
        player = self._player(request, object_id)
        slug = (request.GET.get("board") or request.POST.get("board") or "").strip()
        board = Board.objects.filter(slug=slug).first() if "\x00" not in slug else None
        if board is None:
            self.message_user(request, f"No board {slug!r}.", messages.ERROR)
            return HttpResponseRedirect(self._back(player))
        action = _remove_score(board, player.external_id)
        return confirm_and_run(self, request, action, back=self._back(player))

    def erase_view(self, request: HttpRequest, object_id: str) -> HttpResponseBase:
        player = self._player(request, object_id)
        if not request.user.has_perm("players.delete_player"):
            raise PermissionDenied
        # Back to the list: the player's page is gone once they are erased.
        back = reverse("admin:players_player_changelist")
        return confirm_and_run(self, request, _erase(player.external_id), back=back)
