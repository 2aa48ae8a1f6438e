"""CONNECTION LAYER: the /ws endpoint, frame codec, session registry, presence and fan-out.

It knows nothing of chats: chat/ tells it, through ``Hub.publish``, which users get an
event, and the command table maps each frame type to the chat/ function that decides.
"""
from flask_sock import Sock

from chatsvc.gateway.hub import Hub
from chatsvc.gateway.server import Gateway

__all__ = ["Hub", "Gateway", "init_app"]


def init_app(app, gateway: Gateway):
    app.config["SOCK_SERVER_OPTIONS"] = {"max_message_size": app.config["CHATSVC"].max_frame_bytes}
    sock = Sock(app)

    @sock.route("/ws")
    def ws_endpoint(ws):
        gateway.serve(ws)
