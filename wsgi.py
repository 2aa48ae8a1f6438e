"""gunicorn entry point: ``gunicorn -c gunicorn.conf.py wsgi:app``."""
import gc

from gevent import monkey

monkey.patch_all()

from chatsvc import create_app  # noqa: E402  (after monkey patching, by design)

app = create_app()

from chatsvc.export.scheduled import start_in_server  # noqa: E402

start_in_server(app)   # due scheduled exports (CHATSVC_EXPORT_SCHEDULER_SECONDS; 0: off)

# Everything loaded so far lives as long as the process: keep it out of the collector's
# scans, and collect less often, so thousands of connections don't pay for full GCs.
gc.freeze()
gc.set_threshold(50_000, 20, 20)
