"""CONNECTION LAYER: the /ws endpoint, frame codec, session registry, presence and fan-out.

It knows nothing of chats and imports nothing of chat/ or api/: chat/ tells it, through
``Hub.publish``, which users get an event, and create_app() hands it ``authenticate`` and
the command table (chatsvc.api.frames) that maps each frame type to its handler.
"""
from flask import request
from flask_sock import Sock

from chatsvc.gateway.hub import Hub
from chatsvc.gateway.server import Gateway

__all__ = ["Hub", "Gateway", "init_app"]


def init_app(app, gateway: Gateway):
    # A burst of frames is read in one call (the 4 KiB default takes one syscall each).
    app.config["SOCK_SERVER_OPTIONS"] = {"max_message_size": app.config["CHATSVC"].max_frame_bytes,
                                         "receive_bytes": 65536}
    sock = Sock(app)

    @app.before_request
    def _decline_websocket_extensions():
        # No permessage-deflate (or any extension): it would cost a compressor per
        # connection (memory), and without it the gateway writes ready-made frame bytes
        # (chatsvc.gateway.codec.encode) shared by every recipient of an event.
        if request.path == "/ws":
            request.environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)

    @sock.route("/ws")
    def ws_endpoint(ws):
        gateway.serve(ws)
