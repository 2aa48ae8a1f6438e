"""The browser workspace: static HTML, CSS and JavaScript modules served at /."""
import os

from flask import Blueprint, send_from_directory

STATIC = os.path.join(os.path.dirname(__file__), "static")
bp = Blueprint("web", __name__, static_folder=STATIC, static_url_path="/static")


@bp.get("/")
def index():
    response = send_from_directory(STATIC, "index.html")
    # Message text is rendered as text; this policy is the second line of defence.
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'")
    return response
