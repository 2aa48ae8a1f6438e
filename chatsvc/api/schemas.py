"""marshmallow schemas of every REST request and response (PROTOCOL.md's objects).

Request schemas validate and load; response schemas document the shapes for OpenAPI
(responses are built by chat/views.py and returned as they are).
"""
from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, post_load, validate, validates_schema

from chatsvc.wire import Body, Id, OptionalBody, StrictBoolean, client_msg_id, username


class Request(Schema):
    class Meta:
        unknown = EXCLUDE  # clients may send fields a newer protocol adds


def _text(low, high, **kw):
    return fields.String(validate=validate.Length(low, high), **kw)


def _password():
    return fields.String(required=True, validate=validate.Length(8, 256))


# -- requests -------------------------------------------------------------------------
class CreateTeamIn(Request):
    name = _text(1, 64, required=True)
    username = username(required=True)
    display_name = _text(1, 64, required=True)
    password = _password()


class SignupIn(Request):
    team = _text(1, 64, required=True)
    invite_code = _text(1, 128, required=True)
    username = username(required=True)
    display_name = _text(1, 64, required=True)
    password = _password()


class PasswordIn(Request):
    current_password = _text(1, 256, required=True)
    new_password = _password()


class LoginIn(Request):
    team = _text(1, 64, required=True)
    username = _text(1, 64, required=True)
    password = _text(1, 256, required=True)


class DirectoryQuery(Request):
    q = _text(0, 64, load_default="")


class CreateChatIn(Request):
    member_ids = fields.List(Id(), required=True, validate=validate.Length(1, 255))
    title = fields.String(validate=validate.Length(0, 100), allow_none=True, load_default=None)


class HistoryQuery(Request):
    before = Id(load_default=None)
    after = Id(load_default=None)
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))


class SendIn(Request):
    """``body`` may be empty (or absent) only when ``file_ids`` names files (chat/send.py)."""
    body = OptionalBody()
    client_msg_id = client_msg_id()
    thread_id = Id(load_default=None, allow_none=True)
    also_in_chat = StrictBoolean(load_default=False)
    file_ids = fields.List(Id(), load_default=list, validate=validate.Length(0, 10))

    @validates_schema(skip_on_field_errors=False)
    def _body_or_files(self, data, **kwargs):
        if "body" not in data and not data.get("file_ids"):
            raise ValidationError("Missing data for required field.", "body")

    @post_load
    def _empty_body(self, data, **kwargs):
        data.setdefault("body", "")
        return data


class SettingsIn(Request):
    """Each setting optional; what is given must be exactly a JSON boolean / one of the
    notify levels (no "yes", no null)."""
    muted = StrictBoolean()
    notify = fields.String(validate=validate.OneOf(["all", "mentions", "none"]))

    class Meta:
        unknown = RAISE   # a setting this server does not know is a mistake, not a newer client


class ExportScheduleIn(Request):
    """The team's scheduled compliance export (admins only): every ``every_hours`` hours,
    the messages since the previous run, in ``format``, into a new folder under
    ``destination`` (an absolute path on the server)."""
    every_hours = fields.Integer(required=True, strict=True, validate=validate.Range(1, 8760))
    format = fields.String(required=True, validate=validate.OneOf(
        ["jsonl", "csv", "html", "actiance", "globalrelay"]))
    destination = fields.String(required=True, validate=[
        validate.Length(1, 4096),
        validate.Regexp(r"^/[^\x00]*$", error="must be an absolute path on the server")])
    enabled = fields.Boolean(required=True, truthy={True}, falsy={False})

    class Meta:
        unknown = RAISE


class ExportScheduleOut(Schema):
    every_hours = fields.Integer(allow_none=True)
    format = fields.String(allow_none=True)
    destination = fields.String(allow_none=True)
    enabled = fields.Boolean()
    updated_at = fields.String(allow_none=True)
    updated_by = fields.String(allow_none=True)
    last_run_at = fields.String(allow_none=True)
    last_snapshot_time = fields.String(allow_none=True)
    last_status = fields.String(allow_none=True)
    last_error = fields.String(allow_none=True)
    last_out = fields.String(allow_none=True)
    runs = fields.Integer(allow_none=True)
    next_due_at = fields.String(allow_none=True)


class EditIn(Request):
    body = Body(required=True)


class ThreadQuery(Request):
    after = Id(load_default=None)
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))


class ReadIn(Request):
    message_id = Id(required=True)


class DeleteQuery(Request):
    scope = fields.String(data_key="for", required=True, validate=validate.OneOf(["me", "everyone"]))


class ContextQuery(Request):
    before = fields.Integer(load_default=10, validate=validate.Range(0, 100))
    after = fields.Integer(load_default=10, validate=validate.Range(0, 100))


class SearchQuery(Request):
    """GET /api/search. ``q`` itself is checked by the query parser (chat/search_query.py),
    which names the malformed operator."""
    q = fields.String(required=True)
    sort = fields.String(load_default="relevance", validate=validate.OneOf(["relevance", "recent"]))
    limit = fields.Integer(load_default=20, strict=False, validate=validate.Range(1, 100))
    cursor = fields.String(load_default=None, validate=validate.Length(1, 1024))


class SuggestQuery(Request):
    """GET /api/search/suggest: ``q`` is a partial query (its last token is completed)."""
    q = fields.String(load_default="")


# -- responses (documentation) ----------------------------------------------------------
class UserOut(Schema):
    id = fields.String()
    team_id = fields.String()
    username = fields.String()
    display_name = fields.String()
    avatar_color = fields.String()
    avatar_url = fields.String(allow_none=True)


class TeamOut(Schema):
    id = fields.String()
    name = fields.String()
    invite_code = fields.String()


class CreateTeamOut(Schema):
    team = fields.Nested(TeamOut)
    user = fields.Nested(UserOut)
    token = fields.String()


class SessionOut(Schema):
    user = fields.Nested(UserOut)
    token = fields.String()


class UsersOut(Schema):
    users = fields.List(fields.Nested(UserOut))


class PresenceOut(Schema):
    user_id = fields.String()
    status = fields.String(validate=validate.OneOf(["online", "offline"]))
    last_seen = fields.String(allow_none=True)


class ContactOut(Schema):
    user = fields.Nested(UserOut)
    presence = fields.Nested(PresenceOut)


class ContactsOut(Schema):
    contacts = fields.List(fields.Nested(ContactOut))


class ReactionOut(Schema):
    emoji = fields.String()
    user_ids = fields.List(fields.String())


# -- files and avatars (issue 14) ------------------------------------------------------
class FileOut(Schema):
    id = fields.String()
    name = fields.String()
    size = fields.Integer()
    content_type = fields.String()
    sha256 = fields.String()
    width = fields.Integer(metadata={"description": "raster images only: as displayed"})
    height = fields.Integer()
    animated = fields.Boolean()
    url = fields.String(allow_none=True, metadata={"description": "signed for the caller, short-lived"})
    thumbnail_url = fields.String(allow_none=True)
    thumbnail_width = fields.Integer()
    thumbnail_height = fields.Integer()


class UploadOut(Schema):
    file = fields.Nested(FileOut)


class DownloadQuery(Request):
    u = fields.String(required=True)
    e = fields.String(required=True)
    s = fields.String(required=True)


class AvatarQuery(Request):
    e = fields.String(load_default="")   # absent (a link from before expiries): 403 expired
    s = fields.String(required=True)
# -- end files and avatars -----------------------------------------------------------


class MessageOut(Schema):
    id = fields.String()
    chat_id = fields.String()
    sender_id = fields.String()
    body = fields.String()
    created_at = fields.String()
    client_msg_id = fields.String()
    liked_by = fields.List(fields.String())
    deleted = fields.Boolean()
    edited_at = fields.String(allow_none=True)
    thread_id = fields.String(allow_none=True)
    also_in_chat = fields.Boolean()
    reply_count = fields.Integer()
    last_reply_at = fields.String(allow_none=True)
    reply_user_ids = fields.List(fields.String())
    reactions = fields.List(fields.Nested(ReactionOut))
    mentions = fields.List(fields.String())
    files = fields.List(fields.Nested(FileOut))




class ChatOut(Schema):
    id = fields.String()
    kind = fields.String(validate=validate.OneOf(["direct", "group"]))
    title = fields.String(allow_none=True)
    member_ids = fields.List(fields.String())
    created_by = fields.String()
    created_at = fields.String()
    last_message = fields.Nested(MessageOut, allow_none=True)
    unread_count = fields.Integer()
    mention_count = fields.Integer()
    reads = fields.Dict(keys=fields.String(), values=fields.String())
    muted = fields.Boolean()
    notify = fields.String(validate=validate.OneOf(["all", "mentions", "none"]))


class ChatsOut(Schema):
    chats = fields.List(fields.Nested(ChatOut))


class MessagesOut(Schema):
    messages = fields.List(fields.Nested(MessageOut))
    has_more = fields.Boolean()


class ThreadOut(Schema):
    root = fields.Nested(MessageOut)
    replies = fields.List(fields.Nested(MessageOut))
    has_more = fields.Boolean()


class ContextOut(Schema):
    messages = fields.List(fields.Nested(MessageOut))
    has_more_before = fields.Boolean()
    has_more_after = fields.Boolean()


class ErrorBody(Schema):
    code = fields.String()
    message = fields.String()
    fields = fields.Dict()


class ErrorOut(Schema):
    error = fields.Nested(ErrorBody)


class SearchChatOut(Schema):
    id = fields.String()
    title = fields.String(allow_none=True)
    kind = fields.String(validate=validate.OneOf(["direct", "group"]))


class SearchHitOut(Schema):
    message = fields.Nested(MessageOut)
    chat = fields.Nested(SearchChatOut)
    highlights = fields.List(fields.String(), metadata={
        "description": "fragments of body: matches in <mark>...</mark>, all other text HTML-escaped"})


class SearchOut(Schema):
    hits = fields.List(fields.Nested(SearchHitOut))
    total = fields.Integer(metadata={"description": "every visible match (exact)"})
    next_cursor = fields.String(allow_none=True)
    total_is_lower_bound = fields.Boolean(metadata={"description": "present (true) only if total is a lower bound"})


class SuggestionOut(Schema):
    kind = fields.String(metadata={"description": "operator | user | chat"})
    insert = fields.String(metadata={"description": "replaces the last token of q"})
    label = fields.String()


class SuggestOut(Schema):
    suggestions = fields.List(fields.Nested(SuggestionOut))


# -- compliance (issue 17): roles, retention, holds, audit ---------------------------------
class RetentionDays(fields.Integer):
    """A whole number of days, 1..36500, or null (keep forever); never a bool or a string."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError("must be a whole number of days (1-36500) or null")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictBool(fields.Boolean):
    """Exactly a JSON true or false (not 1, "yes" or null)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ValidationError("must be true or false")
        return value


class MeOut(UserOut):
    roles = fields.List(fields.String(validate=validate.OneOf(["admin", "compliance"])))


class RolesIn(Request):
    admin = StrictBool()
    compliance = StrictBool()

    class Meta:
        unknown = RAISE


class RetentionIn(Request):
    days = RetentionDays(required=True, allow_none=True, strict=True, validate=validate.Range(1, 36500))


class RetentionRunIn(Request):
    dry_run = StrictBool(load_default=False)


class PolicyOut(Schema):
    days = fields.Integer(allow_none=True)
    updated_at = fields.String(allow_none=True)
    updated_by = fields.String(allow_none=True)


class ChatPolicyOut(PolicyOut):
    chat_id = fields.String()


class PoliciesOut(Schema):
    team = fields.Nested(PolicyOut)
    chats = fields.List(fields.Nested(ChatPolicyOut))


class RetentionRunOut(Schema):
    run_id = fields.String()
    dry_run = fields.Boolean()
    team_id = fields.String()
    team = fields.String()
    policies = fields.List(fields.Dict())
    chats = fields.Dict(keys=fields.String(), values=fields.Integer())
    total = fields.Integer()


class HoldIn(Request):
    name = _text(1, 100, required=True)
    reason = _text(1, 2000, required=True)
    user_ids = fields.List(Id(), load_default=list, validate=validate.Length(0, 1000))
    chat_ids = fields.List(Id(), load_default=list, validate=validate.Length(0, 1000))


class HoldOut(Schema):
    id = fields.String()
    name = fields.String()
    reason = fields.String()
    user_ids = fields.List(fields.String())
    chat_ids = fields.List(fields.String())
    active = fields.Boolean()
    created_at = fields.String()
    created_by = fields.String()
    released_at = fields.String(allow_none=True)
    released_by = fields.String(allow_none=True)


class HoldsOut(Schema):
    holds = fields.List(fields.Nested(HoldOut))


class AuditQuery(Request):
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))
    before = fields.String(load_default=None, validate=validate.Length(1, 64))


class AuditEntryOut(Schema):
    id = fields.String()
    at = fields.String()
    action = fields.String()
    actor_id = fields.String(allow_none=True)
    actor_username = fields.String(allow_none=True)
    target = fields.Dict()
    details = fields.Dict()


class AuditOut(Schema):
    entries = fields.List(fields.Nested(AuditEntryOut))
    next_before = fields.String(allow_none=True)
