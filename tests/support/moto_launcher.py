"""Start moto_server with fixes needed by aws-sdk-rust.

Usage (with the project venv's python):

    .venv/bin/python tests/support/moto_launcher.py [--parent-pid PID] -H 127.0.0.1 -p PORT

All arguments except ``--parent-pid`` are passed on to moto's own ``moto_server``
argument parser.  The server is ready once ``GET http://127.0.0.1:PORT/moto-api/``
answers 200.

What it adds on top of plain ``moto_server`` (moto 5.2.5):

* ``MOTO_IAM_LOAD_MANAGED_POLICIES=true`` (unless already set), so AWS managed
  policies such as ``service-role/AWSLambdaBasicExecutionRole`` exist.
* S3 GetBucketVersioning / GetBucketNotificationConfiguration answer with the
  ``VersioningConfiguration`` / ``NotificationConfiguration`` XML root that the
  Rust SDK checks (moto answers an unconfigured bucket with another root), and
  an ``EventBridgeConfiguration`` that was put is returned again (moto stores it
  but leaves it out of the answer).
* Lambda UpdateFunctionCode takes ``Architectures`` as AWS does (moto ignores it,
  so an architecture change would never converge).
* ``--parent-pid PID``: a daemon thread polls every 0.5 s and exits the server
  (``os._exit(0)``) once that process is gone, so a test binary that spawns moto
  never leaks it.
"""

import os
import re
import sys
import threading
import time


def _pop_option(argv, name):
    """Remove ``name VALUE`` / ``name=VALUE`` from argv; return VALUE or None."""
    for i, arg in enumerate(argv):
        if arg == name:
            if i + 1 >= len(argv):
                sys.exit(f"{name} needs a value")
            value = argv[i + 1]
            del argv[i : i + 2]
            return value
        if arg.startswith(name + "="):
            del argv[i]
            return arg.split("=", 1)[1]
    return None


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) still answers kill(0); treat it as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def watch_parent(pid, interval=0.5):
    """Exit this process once ``pid`` no longer exists (daemon thread)."""

    def loop():
        while True:
            if not _pid_alive(pid):
                os._exit(0)
            time.sleep(interval)

    threading.Thread(target=loop, name="parent-watch", daemon=True).start()


_parent = _pop_option(sys.argv, "--parent-pid")
if _parent is not None:
    watch_parent(int(_parent))

os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")

# ---- verified patch core (do not change) ------------------------------------
import moto.s3.responses as s3r

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
XML = '<?xml version="1.0" encoding="UTF-8"?>\n'


def get_bucket_versioning(self):
    status = self.backend.get_bucket_versioning(self.bucket_name)
    inner = f"<Status>{status}</Status>" if status else ""
    return (
        200,
        {"Content-Type": "application/xml"},
        f'{XML}<VersioningConfiguration xmlns="{NS}">{inner}</VersioningConfiguration>',
    )


_orig_notification = s3r.S3Response.get_bucket_notification


def get_bucket_notification(self):
    cfg = self.backend.get_bucket_notification_configuration(self.bucket_name)
    if not cfg:
        return (
            200,
            {"Content-Type": "application/xml"},
            f'{XML}<NotificationConfiguration xmlns="{NS}"/>',
        )
    status, headers, body = _orig_notification(self)
    if getattr(cfg, "event_bridge", None) is not None:  # moto stores it but does not return it
        text = body.decode() if isinstance(body, bytes) else body
        if "</NotificationConfiguration>" in text:
            text = text.replace(
                "</NotificationConfiguration>",
                "<EventBridgeConfiguration/></NotificationConfiguration>",
            )
        else:
            text = re.sub(
                r"<NotificationConfiguration([^>]*)/>",
                r"<NotificationConfiguration\1><EventBridgeConfiguration/></NotificationConfiguration>",
                text,
            )
        headers = {k: v for k, v in headers.items() if k.lower() != "content-length"}
        body = text
    return status, headers, body


s3r.S3Response.get_bucket_versioning = get_bucket_versioning
s3r.S3Response.get_bucket_notification = get_bucket_notification

# ---- Lambda: UpdateFunctionCode changes the architecture on AWS; moto drops it -------
import moto.awslambda.models as lm

_orig_update_code = lm.LambdaFunction.update_function_code


def update_function_code(self, updated_spec):
    if updated_spec.get("Architectures"):
        self.architectures = updated_spec["Architectures"]
    return _orig_update_code(self, updated_spec)


lm.LambdaFunction.update_function_code = update_function_code
from moto.server import main

sys.exit(main())
