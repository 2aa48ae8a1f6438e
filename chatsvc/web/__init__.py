"""The browser workspace: static HTML, CSS and JavaScript modules served at /."""
import os

from flask import Blueprint, send_from_directory

STATIC = os.path.join(os.path.dirname(__file__), "static")
bp = Blueprint("web", __name__, static_folder=STATIC, static_url_path="/static")


@bp.get("/")
def index():
    # Message text is rendered as text; the Content-Security-Policy every response carries
    # (chatsvc/headers.py) is the second line of defence.
    return send_from_directory(STATIC, "index.html")
