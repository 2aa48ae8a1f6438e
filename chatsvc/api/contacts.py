"""Contacts and their presence."""
from flask import Blueprint

from chatsvc.api import schemas as s
from chatsvc.api.base import ctx, endpoint, me
from chatsvc.chat import people

bp = Blueprint("contacts", __name__)


@bp.get("/api/contacts")
@endpoint("The caller's contacts with their presence", response=s.ContactsOut)
def list_contacts():
    return {"contacts": people.list_contacts(ctx(), me())}


@bp.put("/api/contacts/<user_id>")
@endpoint("Add a teammate as a contact", status=204)
def add_contact(user_id):
    people.add_contact(ctx(), me(), user_id)
    return "", 204


@bp.delete("/api/contacts/<user_id>")
@endpoint("Remove a contact", status=204)
def remove_contact(user_id):
    people.remove_contact(ctx(), me(), user_id)
    return "", 204
