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
* S3 CreateBucket stores the ``Tags`` of its ``CreateBucketConfiguration`` as the
  bucket's tag set (AWS accepts tags at creation since 2025; moto ignores them).
* Every bucket created once the server runs starts with AWS's defaults since
  April 2023: Block Public Access all four true, default encryption SSE-S3
  (``AES256``, BucketKeyEnabled false) and object ownership ``BucketOwnerEnforced``
  (an ``x-amz-object-ownership`` header still wins).  Put/Delete of these behave
  as in moto.
* moto never runs Lambda code: S3 notifications no longer invoke functions, and
  ``DOCKER_HOST`` points nowhere.  ``labctl verify`` runs the functions itself; a
  machine with Docker would otherwise run each function twice.
* Athena UpdateWorkGroup, UpdateNamedQuery, DeleteNamedQuery and Glue UpdateCrawler
  (moto 5.2.5 lacks them), and DeleteWorkGroup as AWS does it: refused for a
  workgroup holding named queries unless ``RecursiveDeleteOption``, which deletes
  them too.
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
os.environ["DOCKER_HOST"] = "unix:///nonexistent/labctl-moto-runs-no-lambda-code"
# EC2 as strict as moto can be: unknown images, instance types and key pairs refused.
for _flag in (
    "MOTO_ENABLE_AMI_VALIDATION",
    "MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION",
    "MOTO_ENABLE_KEYPAIR_VALIDATION",
):
    os.environ.setdefault(_flag, "true")

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

# ---- S3: a new bucket gets what AWS gives it ------------------------------------------
# CreateBucket takes Tags in CreateBucketConfiguration (AWS since 2025; moto ignores them),
# and every bucket created since April 2023 has Block Public Access on, SSE-S3 default
# encryption and BucketOwnerEnforced ownership (moto: "not found" for all three).
from xml.parsers.expat import ExpatError

import moto.s3.models as s3m
import xmltodict

_creating = threading.local()  # .tags: tags of the CreateBucket this thread is serving
_serving = False  # set just before the server runs: older buckets keep moto's state


def _creation_tags(body):
    """Tags of a CreateBucketConfiguration body as {key: value}; None if it has none."""
    if not body:
        return None
    try:
        doc = xmltodict.parse(body, force_list=("Tag",))
    except (ExpatError, ValueError, TypeError):
        return None
    cfg = doc.get("CreateBucketConfiguration") if isinstance(doc, dict) else None
    tags = cfg.get("Tags") if isinstance(cfg, dict) else None
    if not isinstance(tags, dict):
        return None
    return {
        tag.get("Key") or "": tag.get("Value") or ""
        for tag in tags.get("Tag") or []
        if isinstance(tag, dict)
    }


_orig_bucket_put = s3r.S3Response._bucket_response_put


def _bucket_response_put(self, request, bucket_name, querystring):
    # moto's own parsing (LocationConstraint, the other PUT subresources) is unchanged;
    # create_bucket below applies the tags once the bucket exists.
    _creating.tags = _creation_tags(self.body)
    try:
        return _orig_bucket_put(self, request, bucket_name, querystring)
    finally:
        _creating.tags = None


_orig_create_bucket = s3m.S3Backend.create_bucket


def create_bucket(self, bucket_name, *args, **kwargs):
    bucket = _orig_create_bucket(self, bucket_name, *args, **kwargs)  # raises if it exists
    if _serving:
        bucket.public_access_block = s3m.PublicAccessBlock(True, True, True, True)
        bucket.encryption = {
            "Rule": {
                "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                "BucketKeyEnabled": False,
            }
        }
        bucket.ownership_rule = "BucketOwnerEnforced"
    tags = getattr(_creating, "tags", None)
    if tags:
        _creating.tags = None  # one request, one bucket
        self.put_bucket_tagging(bucket_name, tags)
    return bucket


s3r.S3Response._bucket_response_put = _bucket_response_put
s3m.S3Backend.create_bucket = create_bucket

# ---- EC2: RunInstances is idempotent by ClientToken on AWS; moto makes a new instance --
import moto.ec2.models.instances as ec2_instances

_orig_run_instances = ec2_instances.InstanceBackend.run_instances


def run_instances(self, image_id, count, user_data, security_group_names, **kwargs):
    token = kwargs.get("client_token")
    if token and token != "ABCDE":  # moto's stand-in when none is sent
        for reservation in self.reservations.values():
            if any(getattr(i, "client_token", None) == token for i in reservation.instances):
                return reservation
    return _orig_run_instances(self, image_id, count, user_data, security_group_names, **kwargs)


ec2_instances.InstanceBackend.run_instances = run_instances

# ---- Athena and Glue calls moto 5.2.5 lacks, as AWS answers them ---------------------
import json as _json

import moto.athena.responses as athena_responses
import moto.glue.responses as glue_responses
from moto.core.responses import EmptyResult as _GlueEmpty


def _athena_update_work_group(self):
    wg = self.athena_backend.work_groups.get(self._get_param("WorkGroup"))
    if wg is None:
        return self.error("WorkGroup is not found.", 400)
    if self._get_param("Description") is not None:
        wg.description = self._get_param("Description")
    if self._get_param("State"):
        wg.state = self._get_param("State")
    updates = self._get_param("ConfigurationUpdates") or {}
    cfg = wg.configuration
    results = updates.get("ResultConfigurationUpdates") or {}
    if "OutputLocation" in results:
        cfg.setdefault("ResultConfiguration", {})["OutputLocation"] = results["OutputLocation"]
    if results.get("RemoveOutputLocation"):
        cfg.get("ResultConfiguration", {}).pop("OutputLocation", None)
    for key in (
        "EnforceWorkGroupConfiguration",
        "PublishCloudWatchMetricsEnabled",
        "RequesterPaysEnabled",
        "BytesScannedCutoffPerQuery",
    ):
        if key in updates:
            cfg[key] = updates[key]
    if updates.get("RemoveBytesScannedCutoffPerQuery"):
        cfg.pop("BytesScannedCutoffPerQuery", None)
    return "{}"


def _athena_update_named_query(self):
    query = self.athena_backend.named_queries.get(self._get_param("NamedQueryId"))
    if query is None:
        return self.error("NamedQuery is not found.", 400)
    query.name = self._get_param("Name")
    query.description = self._get_param("Description") or ""
    query.query_string = self._get_param("QueryString")
    return "{}"


def _athena_delete_named_query(self):
    self.athena_backend.named_queries.pop(self._get_param("NamedQueryId"), None)
    return "{}"


def _athena_delete_work_group(self):
    # AWS refuses to delete a workgroup that holds named queries without
    # RecursiveDeleteOption, and deletes them with it.
    name = self._get_param("WorkGroup")
    backend = self.athena_backend
    held = [q for q in backend.named_queries.values() if q.workgroup.name == name]
    if held and not self._get_param("RecursiveDeleteOption"):
        return self.error(f"WorkGroup {name} is not empty", 400)
    for q in held:
        backend.named_queries.pop(q.id, None)
    backend.delete_work_group(name)
    return _json.dumps({})


athena_responses.AthenaResponse.update_work_group = _athena_update_work_group
athena_responses.AthenaResponse.update_named_query = _athena_update_named_query
athena_responses.AthenaResponse.delete_named_query = _athena_delete_named_query
athena_responses.AthenaResponse.delete_work_group = _athena_delete_work_group


def _glue_update_crawler(self):
    crawler = self.glue_backend.get_crawler(self.parameters.get("Name"))
    for param, attr in (
        ("Role", "role"),
        ("DatabaseName", "database_name"),
        ("Description", "description"),
        ("Targets", "targets"),
        ("Schedule", "schedule"),
        ("TablePrefix", "table_prefix"),
    ):
        if param in self.parameters:
            setattr(crawler, attr, self.parameters[param])
    crawler.version += 1
    return _GlueEmpty()


glue_responses.GlueResponse.update_crawler = _glue_update_crawler

import moto.s3.notifications as s3_notifications

s3_notifications._invoke_awslambda = lambda *args, **kwargs: None

from moto.server import main

_serving = True
sys.exit(main())
