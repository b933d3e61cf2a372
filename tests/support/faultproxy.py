"""faultproxy: an HTTP/1.1 reverse proxy in front of moto that logs and injects faults.

Usage (stdlib only, any Python >= 3.11):

    faultproxy.py --upstream http://127.0.0.1:PORT [--listen 127.0.0.1:0]
                  [--port-file PATH] [--latency-ms 50] [--error-rate 0.1]
                  [--drop-after-rate 0.03] [--not-ready-rate 0.2]
                  [--not-ready-first 1] [--seed 7]
                  [--races notification,nosuchbucket,tagserror]
                  [--caller-arn ARN] [--dependencies] [--log calls.jsonl]
                  [--parent-pid PID]

Point the SDK endpoint (path-style S3) at the proxy.  Once it listens, the proxy
writes its port to --port-file (atomically) and prints ``LISTENING <port>``.

For every request it reads the whole body (Content-Length or chunked), works out
service/region (SigV4 credential scope) and the operation name, then:
  * sleeps --latency-ms (also before injected errors);
  * with probability --error-rate answers a transient error in the service's own
    protocol (throttling / internal error) without forwarding;
  * with probability --not-ready-rate (and for the first --not-ready-first calls of
    each such operation) answers a "not ready yet" error (S3
    OperationAborted, Lambda ResourceConflict or role-not-assumable, EC2 group not
    found) for the calls real AWS answers so, which moto never does;
  * otherwise forwards; for write calls, with probability --drop-after-rate the
    answer is thrown away and the client connection closed (the call took effect
    upstream, the client sees a connection error).
Per request four numbers are drawn from one random.Random(--seed) (under a lock,
in arrival order), so a sequential client sees a reproducible fault pattern.

--races LIST (comma-separated) adds answers real AWS gives while a change is
still propagating, which moto never gives.  They are deterministic (no random
numbers) and apply only to a call that would otherwise be forwarded, so the
faults above are unchanged; at most one race answers a call (nosuchbucket first):
  * notification: after a successful (2xx) Lambda AddPermission, the next S3
    PutBucketNotificationConfiguration is answered 400 InvalidArgument "Unable to
    validate the following destination configurations" (not forwarded; once per
    AddPermission: a flag that AddPermission sets and the answer clears);
  * nosuchbucket: after a successful CreateBucket, the first configuration write
    to that bucket (Put BucketTagging, PublicAccessBlock, BucketVersioning,
    BucketEncryption, BucketLifecycleConfiguration, BucketNotificationConfiguration)
    is answered 404 NoSuchBucket (not forwarded; once per new bucket, armed again
    only after a successful DeleteBucket of it; path-style addressing only);
  * tagserror: every Lambda GetFunction that moto answers 200 loses "Tags" and
    gets "TagsError" (AccessDeniedException), as when the caller may not
    lambda:ListTags.  ListTags itself is untouched.
--caller-arn ARN rewrites <Arn> in every successful STS GetCallerIdentity answer
(Account and UserId stay), e.g. to act as an AWS Academy assumed-role session.
Rewritten answers keep the upstream status; races log injected "race" with code
InvalidArgument / NoSuchBucket / TagsError / CallerArn.
--dependencies refuses what AWS refuses while an instance still uses it (moto
deletes anyway): before forwarding an EC2 DeleteSecurityGroup (form field GroupId)
or DeleteSubnet (SubnetId), the proxy sends moto its own DescribeInstances (the
caller's Authorization header, or a dummy SigV4 one with an ec2 scope; moto checks
no signature) for the instances in state pending/running/stopping/stopped/
shutting-down.  If one uses the group (its groupSet, or, when moto left that empty
because the groups came with NetworkInterfaces, its primary interface's; plus any
other interface's) or the subnet (its own or an interface's), the call is answered
400 DependencyViolation "resource <id> has a dependent object" (not forwarded;
logged injected "dependency").  Otherwise, for a DryRun, or when moto's answer
cannot be read, it is forwarded as usual.  It applies only to a call that would
otherwise be forwarded (after injected errors, not-ready, expiry, --deny).

One JSON line per call goes to --log:
  {"seq", "start", "end", "service", "region", "action", "write", "status",
   "injected": null|"error"|"not-ready"|"expired"|"denied"|"dependency"|"dropped"|"race",
   "code": error code when status >= 400, or the race's code}
Upstream connection failures are logged with status 599 and the client
connection is closed.
"""

import argparse
import contextlib
import http.client
import http.server
import json
import os
import random
import re
import socket
import sys
import threading
import time
import typing
import urllib.parse
import xml.etree.ElementTree as ET
import xml.sax.saxutils

HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "expect",
}
READ_PREFIXES = ("Get", "List", "Describe", "Head")
CRED = re.compile(r"Credential=[^/,\s]+/\d{8}/([^/,\s]+)/([^/,\s]+)/aws4_request")
COLLECTIONS = {
    "functions",
    "layers",
    "versions",
    "tags",
    "aliases",
    "policy",
    "event-source-mappings",
}
LAMBDA_OPS = {
    "GET functions": "ListFunctions",
    "POST functions": "CreateFunction",
    "GET functions/{}": "GetFunction",
    "DELETE functions/{}": "DeleteFunction",
    "PUT functions/{}/code": "UpdateFunctionCode",
    "GET functions/{}/configuration": "GetFunctionConfiguration",
    "PUT functions/{}/configuration": "UpdateFunctionConfiguration",
    "POST functions/{}/policy": "AddPermission",
    "GET functions/{}/policy": "GetPolicy",
    "DELETE functions/{}/policy/{}": "RemovePermission",
    "POST functions/{}/invocations": "Invoke",
    "POST functions/{}/versions": "PublishVersion",
    "GET functions/{}/versions": "ListVersionsByFunction",
    "POST functions/{}/aliases": "CreateAlias",
    "GET functions/{}/aliases": "ListAliases",
    "GET functions/{}/aliases/{}": "GetAlias",
    "PUT functions/{}/aliases/{}": "UpdateAlias",
    "DELETE functions/{}/aliases/{}": "DeleteAlias",
    "PUT functions/{}/concurrency": "PutFunctionConcurrency",
    "GET functions/{}/concurrency": "GetFunctionConcurrency",
    "DELETE functions/{}/concurrency": "DeleteFunctionConcurrency",
    "GET layers": "ListLayers",
    "POST layers/{}/versions": "PublishLayerVersion",
    "GET layers/{}/versions": "ListLayerVersions",
    "GET layers/{}/versions/{}": "GetLayerVersion",
    "DELETE layers/{}/versions/{}": "DeleteLayerVersion",
    "GET tags/{}": "ListTags",
    "POST tags/{}": "TagResource",
    "DELETE tags/{}": "UntagResource",
    "POST event-source-mappings": "CreateEventSourceMapping",
    "GET event-source-mappings": "ListEventSourceMappings",
    "GET event-source-mappings/{}": "GetEventSourceMapping",
    "PUT event-source-mappings/{}": "UpdateEventSourceMapping",
    "DELETE event-source-mappings/{}": "DeleteEventSourceMapping",
}
S3_BUCKET_SUB = {
    "versioning": "BucketVersioning",
    "lifecycle": "BucketLifecycleConfiguration",
    "tagging": "BucketTagging",
    "publicAccessBlock": "PublicAccessBlock",
    "encryption": "BucketEncryption",
    "notification": "BucketNotificationConfiguration",
    "policy": "BucketPolicy",
    "location": "BucketLocation",
    "acl": "BucketAcl",
    "cors": "BucketCors",
    "website": "BucketWebsite",
    "logging": "BucketLogging",
    "ownershipControls": "BucketOwnershipControls",
    "replication": "BucketReplication",
    "policyStatus": "BucketPolicyStatus",
    "accelerate": "BucketAccelerateConfiguration",
    "object-lock": "ObjectLockConfiguration",
}
S3_OBJECT_SUB = {
    "tagging": "ObjectTagging",
    "acl": "ObjectAcl",
    "retention": "ObjectRetention",
    "legal-hold": "ObjectLegalHold",
    "attributes": "ObjectAttributes",
}
S3_RENAME = {"DeleteBucketLifecycleConfiguration": "DeleteBucketLifecycle"}
VERB = {"GET": "Get", "PUT": "Put", "DELETE": "Delete", "HEAD": "Head", "POST": "Post"}
# protocol -> [(status, code, message)]; protocol comes from PROTOCOL or the request shape
ERRORS = {
    "restxml": [
        (503, "SlowDown", "Please reduce your request rate."),
        (500, "InternalError", "We encountered an internal error. Please try again."),
        (503, "ServiceUnavailable", "Service is unable to handle request."),
    ],
    "ec2": [
        (503, "RequestLimitExceeded", "Request limit exceeded."),
        (500, "InternalError", "An internal error has occurred."),
        (503, "Unavailable", "The server is overloaded and can't handle the request."),
    ],
    "query": [(400, "Throttling", "Rate exceeded"), (500, "ServiceFailure", "Internal failure.")],
    "restjson": [
        (429, "TooManyRequestsException", "Rate exceeded"),
        (500, "ServiceException", "Internal service error."),
    ],
    "json": [
        (400, "ThrottlingException", "Rate exceeded"),
        (500, "InternalException", "Internal error."),
    ],
}
PROTOCOL = {
    "s3": "restxml",
    "ec2": "ec2",
    "iam": "query",
    "sts": "query",
    "lambda": "restjson",
    "events": "json",
}


# S3 bucket configuration writes that a bucket just created or changed may refuse.
BUCKET_CONFIG_WRITES = (
    "PutBucketTagging",
    "PutPublicAccessBlock",
    "PutBucketVersioning",
    "PutBucketEncryption",
    "PutBucketLifecycleConfiguration",
    "PutBucketNotificationConfiguration",
)
# --races kinds. The two refusing ones answer (status, code, message) without forwarding.
RACES = ("notification", "nosuchbucket", "tagserror")
RACE_NOTIFICATION = (
    400,
    "InvalidArgument",
    "Unable to validate the following destination configurations",
)
RACE_NOSUCHBUCKET = (404, "NoSuchBucket", "The specified bucket does not exist")
TAGS_ERROR = {
    "ErrorCode": "AccessDeniedException",
    "Message": "User is not authorized to perform: lambda:ListTags",
}


# "Not ready yet" answers AWS gives where moto never does (aws-facts S5, L9, I5, E12),
# each for the operations it really comes from: (status, code, message).
NOT_READY = {
    **dict.fromkeys(
        BUCKET_CONFIG_WRITES,
        (
            409,
            "OperationAborted",
            "A conflicting conditional operation is currently in progress against this resource. Please try again.",
        ),
    ),
    **dict.fromkeys(
        ("UpdateFunctionConfiguration", "UpdateFunctionCode", "AddPermission"),
        (
            409,
            "ResourceConflictException",
            "The operation cannot be performed at this time. An update is in progress for resource",
        ),
    ),
    "CreateFunction": (
        400,
        "InvalidParameterValueException",
        "The role defined for the function cannot be assumed by Lambda.",
    ),
    **dict.fromkeys(
        ("AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress"),
        (400, "InvalidGroup.NotFound", "The security group does not exist"),
    ),
}


# --dependencies: EC2 deletes AWS refuses while an instance still uses the resource
# (moto deletes anyway). Action -> the form field naming the resource.
DEPENDENCIES = {"DeleteSecurityGroup": "GroupId", "DeleteSubnet": "SubnetId"}
# Every state but terminated. moto's TerminateInstances answers shutting-down, but the
# instance is already terminated at the next DescribeInstances.
LIVE_STATES = ("pending", "running", "stopping", "stopped", "shutting-down")
EC2_API_VERSION = "2016-11-15"


def dependent_instance(item, action, rid):
    """Whether one DescribeInstances <instancesSet><item> (namespace stripped) uses rid."""
    enis = item.findall("networkInterfaceSet/item")
    if action == "DeleteSubnet":
        return rid == item.findtext("subnetId") or any(rid == e.findtext("subnetId") for e in enis)

    def groups(el):
        return {g.findtext("groupId") for g in el.findall("groupSet/item")}

    # moto keeps the groups given at launch on the interface (NetworkInterfaces.Groups)
    # and leaves the instance's own groupSet empty, so its instance.group-id filter misses
    # them; ModifyInstanceAttribute Groups then sets the instance's groupSet and only adds
    # to the interface's. AWS has one set: the primary interface's, which the instance shows.
    primary = [e for e in enis if e.findtext("attachment/deviceIndex") == "0"]
    used = groups(item) or set().union(*map(groups, primary))
    used.update(*(groups(e) for e in enis if e not in primary))
    return rid in used


def dependent_instances(xml_body, action, rid):
    """(ids of the instances in a DescribeInstances answer that use rid, nextToken)."""
    root = ET.fromstring(xml_body)
    for el in root.iter():
        el.tag = el.tag.rpartition("}")[2]
    items = root.findall("reservationSet/item/instancesSet/item")
    ids = [i.findtext("instanceId") for i in items if dependent_instance(i, action, rid)]
    return ids, root.findtext("nextToken")


def path_shape(path):
    """Split a path, replacing the segment after a collection word with '{}'."""
    segs = [s for s in path.split("/") if s]
    return [("{}" if i and segs[i - 1] in COLLECTIONS else s) for i, s in enumerate(segs)]


def s3_action(method, segs, q, headers):
    if "x-id" in q:  # SDKs add ?x-id=Operation to many object calls
        return q["x-id"]
    if not segs:
        return "ListBuckets" if method == "GET" else f"{method} /"
    if len(segs) == 1:  # bucket level
        if method == "POST" and "delete" in q:
            return "DeleteObjects"
        if method == "GET" and "versions" in q:
            return "ListObjectVersions"
        if method == "GET" and "uploads" in q:
            return "ListMultipartUploads"
        for k in q:
            if k in S3_BUCKET_SUB and method in VERB:
                name = VERB[method] + S3_BUCKET_SUB[k]
                return S3_RENAME.get(name, name)
        if method == "GET":
            return "ListObjectsV2" if q.get("list-type") == "2" else "ListObjects"
        return {"PUT": "CreateBucket", "HEAD": "HeadBucket", "DELETE": "DeleteBucket"}.get(
            method, f"{method} /{{bucket}}"
        )
    copy = "x-amz-copy-source" in headers
    if "uploadId" in q:
        return {
            "PUT": "UploadPartCopy" if copy else "UploadPart",
            "POST": "CompleteMultipartUpload",
            "DELETE": "AbortMultipartUpload",
            "GET": "ListParts",
        }.get(method, f"{method} /{{bucket}}/{{key}}")
    if method == "POST" and "uploads" in q:
        return "CreateMultipartUpload"
    for k in q:
        if k in S3_OBJECT_SUB and method in VERB:
            return VERB[method] + S3_OBJECT_SUB[k]
    if method == "PUT":
        return "CopyObject" if copy else "PutObject"
    return {"GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}.get(
        method, f"{method} /{{bucket}}/{{key}}"
    )


def form_params(raw_path, headers, body):
    """Query-string parameters, updated with a form-encoded body (Query API calls)."""
    form = dict(urllib.parse.parse_qsl(raw_path.partition("?")[2], keep_blank_values=True))
    if "x-www-form-urlencoded" in headers.get("Content-Type", ""):
        form.update(urllib.parse.parse_qsl(body.decode("latin-1"), keep_blank_values=True))
    return form


def classify(method, raw_path, headers, body):
    """Return (service, region, action, write, protocol) for a request."""
    path, _, query = raw_path.partition("?")
    q = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
    m = CRED.search(
        headers.get("Authorization") or "Credential=" + q.get("X-Amz-Credential", "")
    )  # or presigned
    service, region = (m.group(2), m.group(1)) if m else ("unknown", None)
    target = headers.get("X-Amz-Target")
    form = form_params(raw_path, headers, body)
    segs = [urllib.parse.unquote(s) for s in path.split("/") if s]
    shape = path_shape(path)
    if service == "s3":
        action = s3_action(method, segs, q, headers)
    elif target:
        action = target.rsplit(".", 1)[-1]
    elif "Action" in form:
        action = form["Action"]
    else:
        key = f"{method} " + "/".join(s for s in shape if not re.fullmatch(r"\d{4}-\d\d-\d\d", s))
        action = (
            LAMBDA_OPS.get(key) if service == "lambda" else None
        ) or f"{method} /{'/'.join(shape)}" + (f"?{next(iter(q))}" if q else "")
    named = re.fullmatch(r"[A-Z][A-Za-z0-9]*", action) is not None
    write = (
        not (action.startswith(READ_PREFIXES) or action == "GetCallerIdentity")
        if named
        else method not in ("GET", "HEAD")
    )
    protocol = PROTOCOL.get(service) or (
        "json" if target else "query" if "Action" in form else "restxml"
    )
    return service, region, action, write, protocol


def error_response(protocol, status, code, msg, rid):
    """Synthetic error in the given protocol: (headers, body)."""
    if protocol in ("restjson", "json"):
        doc = (
            {"Type": "User" if status < 500 else "Service", "message": msg}
            if protocol == "restjson"
            else {"__type": code, "message": msg}
        )
        ctype = "application/json" if protocol == "restjson" else "application/x-amz-json-1.1"
        return {
            "Content-Type": ctype,
            "x-amzn-ErrorType": code,
            "x-amzn-RequestId": rid,
        }, json.dumps(doc).encode()
    if protocol == "ec2":
        xml = (
            f"<Response><Errors><Error><Code>{code}</Code><Message>{msg}</Message></Error></Errors>"
            f"<RequestID>{rid}</RequestID></Response>"
        )
    elif protocol == "query":
        kind = "Sender" if status < 500 else "Receiver"
        xml = (
            f"<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code><Message>{msg}</Message></Error>"
            f"<RequestId>{rid}</RequestId></ErrorResponse>"
        )
    else:
        xml = f"<Error><Code>{code}</Code><Message>{msg}</Message><RequestId>{rid}</RequestId><HostId>{rid}</HostId></Error>"
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n' + xml).encode()
    return {
        "Content-Type": "application/xml",
        "x-amz-request-id": rid,
        "x-amzn-RequestId": rid,
    }, body


def error_code(headers, body):
    """Error code of an upstream answer (x-amzn-ErrorType, JSON __type/code, XML <Code>)."""
    h = {k.lower(): v for k, v in headers}
    if h.get("x-amzn-errortype"):
        return h["x-amzn-errortype"].split(":")[0]
    text = body.decode("utf-8", "replace").strip()
    if text.startswith("{"):
        try:
            doc = json.loads(text)
            code = doc.get("__type") or doc.get("code") or doc.get("Code")
            return code.rsplit("#", 1)[-1] if code else None
        except (ValueError, AttributeError):
            return None
    m = re.search(r"<Code>([^<]+)</Code>", text)
    return m.group(1) if m else None


def bucket_of(service, raw_path):
    """The bucket a path-style S3 request addresses (None for other services or '/')."""
    if service != "s3":
        return None
    first = raw_path.partition("?")[0].lstrip("/").split("/", 1)[0]
    return urllib.parse.unquote(first) or None


def races_arg(value):
    """--races: comma-separated kinds from RACES."""
    kinds = {k.strip() for k in value.split(",") if k.strip()}
    unknown = kinds - set(RACES)
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown race {', '.join(sorted(unknown))} (known: {', '.join(RACES)})"
        )
    return frozenset(kinds)


def watch_parent(pid):
    """Exit the process once `pid` is gone (or a zombie); polls every 0.5 s."""

    def alive():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return True

    def loop():
        while alive():
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=loop, daemon=True).start()


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    opts = None  # argparse namespace, set in main()
    lock = threading.Lock()
    rng = None
    seq = 0
    refused: typing.ClassVar[dict] = {}  # action -> how many not-ready answers it got
    log = None
    # --races state, guarded by lock: a successful AddPermission not yet raced; buckets
    # whose first configuration write is still to be refused; buckets created (armed once).
    notify_pending = False
    new_buckets: typing.ClassVar[set] = set()
    created_buckets: typing.ClassVar[set] = set()

    def setup(self):
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().setup()

    def log_message(self, *args):
        pass

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # CRLF after the chunk
            while (line := self.rfile.readline()) not in (b"\r\n", b"\n", b""):  # trailers
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip() and name.strip() not in self.headers:
                    self.headers[name.strip()] = value.strip()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def record(self, **fields):
        line = json.dumps(fields)
        with Proxy.lock:
            if Proxy.log:
                Proxy.log.write(line + "\n")

    def answer(self, status, reason, headers, body):
        self.send_response_only(status, reason)
        has_length = False
        for k, v in headers:
            if k.lower() == "content-length" and self.command == "HEAD":
                has_length = True  # HEAD: keep upstream's length of the body it would have sent
            elif k.lower() in HOP:
                continue
            self.send_header(k, v)
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(body)))
        elif not has_length:
            self.send_header("Content-Length", "0")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def hang_up(self):
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.request.shutdown(socket.SHUT_RDWR)

    def take_race(self, service, action, bucket):
        """The refusing race due for this call, consumed, as (status, code, msg); or None."""
        races = Proxy.opts.races
        if service != "s3":
            return None
        with Proxy.lock:
            if (
                "nosuchbucket" in races
                and action in BUCKET_CONFIG_WRITES
                and bucket in Proxy.new_buckets
            ):
                Proxy.new_buckets.discard(bucket)
                return RACE_NOSUCHBUCKET
            if (
                "notification" in races
                and action == "PutBucketNotificationConfiguration"
                and Proxy.notify_pending
            ):
                Proxy.notify_pending = False
                return RACE_NOTIFICATION
        return None

    def arm_races(self, service, action, bucket):
        """Record a call that moto carried out (2xx) for the races it starts."""
        races = Proxy.opts.races
        with Proxy.lock:
            if "notification" in races and service == "lambda" and action == "AddPermission":
                Proxy.notify_pending = True
            elif "nosuchbucket" in races and service == "s3" and bucket:
                if action == "CreateBucket" and bucket not in Proxy.created_buckets:
                    Proxy.created_buckets.add(bucket)
                    Proxy.new_buckets.add(bucket)
                elif action == "DeleteBucket":
                    Proxy.created_buckets.discard(bucket)
                    Proxy.new_buckets.discard(bucket)

    def rewrite(self, service, action, rbody):
        """A successful answer after the rewriting races: (body, race code or None)."""
        o = Proxy.opts
        if "tagserror" in o.races and service == "lambda" and action == "GetFunction":
            try:
                doc = json.loads(rbody)
            except ValueError:
                return rbody, None
            if isinstance(doc, dict):
                doc.pop("Tags", None)
                doc["TagsError"] = dict(TAGS_ERROR)
                return json.dumps(doc).encode(), "TagsError"
        if o.caller_arn and service == "sts" and action == "GetCallerIdentity":
            arn = "<Arn>" + xml.sax.saxutils.escape(o.caller_arn) + "</Arn>"
            text, n = re.subn(
                r"<Arn>[^<]*</Arn>", lambda _: arn, rbody.decode("utf-8", "replace"), count=1
            )
            if n:
                return text.encode(), "CallerArn"
        return rbody, None

    def dependents(self, action, rid, region):
        """Live instances using rid, from a DescribeInstances sent straight to moto.

        None when moto gives no readable answer (the delete is then forwarded as usual).
        """
        o = Proxy.opts
        auth = self.headers.get("Authorization") or ""
        m = CRED.search(auth)
        if not m or m.group(2) != "ec2":  # e.g. a presigned call: moto routes on this scope
            auth = (
                f"AWS4-HMAC-SHA256 Credential=testing/20250101/{region or 'us-east-1'}/ec2/"
                "aws4_request, SignedHeaders=host, Signature=x"
            )
        params = {
            "Action": "DescribeInstances",
            "Version": EC2_API_VERSION,
            "Filter.1.Name": "instance-state-name",
            **{f"Filter.1.Value.{n}": state for n, state in enumerate(LIVE_STATES, 1)},
        }
        found = []
        for _ in range(1000):  # pages of 100 reservations
            conn = http.client.HTTPConnection(o.up_host, o.up_port, timeout=300)
            try:
                conn.request(
                    "POST",
                    "/",
                    body=urllib.parse.urlencode(params).encode(),
                    headers={
                        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                        "Authorization": auth,
                    },
                )
                resp = conn.getresponse()
                rbody = resp.read()
            except (OSError, http.client.HTTPException):
                return None
            finally:
                conn.close()
            if resp.status != 200:
                return None
            try:
                ids, token = dependent_instances(rbody, action, rid)
            except ET.ParseError:
                return None
            found += ids
            if not token:
                break
            params["NextToken"] = token
        return found

    def handle_any(self):
        start = time.time()
        body = self.read_body()
        service, region, action, write, protocol = classify(
            self.command, self.path, self.headers, body
        )
        with Proxy.lock:
            Proxy.seq += 1
            seq = Proxy.seq
            r_err, r_pick, r_drop = Proxy.rng.random(), Proxy.rng.random(), Proxy.rng.random()
            r_ready = Proxy.rng.random()
        entry = {
            "seq": seq,
            "start": start,
            "end": None,
            "service": service,
            "region": region,
            "action": action,
            "write": write,
            "status": None,
            "injected": None,
            "code": None,
        }
        o = Proxy.opts
        if o.latency_ms:
            time.sleep(o.latency_ms / 1000)
        expired = o.expire_after is not None and seq > o.expire_after
        not_ready = False
        if action in NOT_READY:
            with Proxy.lock:
                seen = Proxy.refused.get(action, 0)
                not_ready = seen < o.not_ready_first or r_ready < o.not_ready_rate
                if not_ready:
                    Proxy.refused[action] = seen + 1
        if expired or r_err < o.error_rate or not_ready:
            if not_ready:
                status, code, msg = NOT_READY[action]
            elif expired:
                # Credentials that ran out part-way (an AWS Academy session after ~4 h).
                code = (
                    "ExpiredTokenException" if protocol in ("restjson", "json") else "ExpiredToken"
                )
                status, msg = 400, "The security token included in the request is expired"
            else:
                choices = ERRORS[protocol]
                status, code, msg = choices[int(r_pick * len(choices))]
            headers, payload = error_response(protocol, status, code, msg, f"faultproxy-{seq:08d}")
            # Logged before answering: a client that exits on the answer must find
            # its call in the log.
            entry.update(
                status=status,
                injected="not-ready" if not_ready else "expired" if expired else "error",
                code=code,
                end=time.time(),
            )
            self.record(**entry)
            self.answer(
                status, http.client.responses.get(status, ""), list(headers.items()), payload
            )
            return None
        if action in o.deny:
            # What a restricted account (AWS Academy, a least-privilege policy) answers.
            code = {"restjson": "AccessDeniedException", "json": "AccessDeniedException"}.get(
                protocol, "UnauthorizedOperation" if protocol == "ec2" else "AccessDenied"
            )
            msg = f"User is not authorized to perform: {service}:{action}"
            headers, payload = error_response(protocol, 403, code, msg, f"faultproxy-{seq:08d}")
            entry.update(status=403, injected="denied", code=code, end=time.time())
            self.record(**entry)
            self.answer(403, "Forbidden", list(headers.items()), payload)
            return None
        race = self.take_race(service, action, bucket_of(service, self.path))
        if race:
            status, code, msg = race
            headers, payload = error_response(protocol, status, code, msg, f"faultproxy-{seq:08d}")
            entry.update(status=status, injected="race", code=code, end=time.time())
            self.record(**entry)
            self.answer(
                status, http.client.responses.get(status, ""), list(headers.items()), payload
            )
            return None
        if o.dependencies and service == "ec2" and action in DEPENDENCIES:
            form = form_params(self.path, self.headers, body)
            rid = form.get(DEPENDENCIES[action])
            # A dry run only checks permissions on AWS; moto answers it.
            if (
                rid
                and form.get("DryRun", "").lower() != "true"
                and self.dependents(action, rid, region)
            ):
                status, code = 400, "DependencyViolation"
                msg = f"resource {rid} has a dependent object"
                headers, payload = error_response(
                    protocol, status, code, xml.sax.saxutils.escape(msg), f"faultproxy-{seq:08d}"
                )
                entry.update(status=status, injected="dependency", code=code, end=time.time())
                self.record(**entry)
                self.answer(status, "Bad Request", list(headers.items()), payload)
                return None
        fwd = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        fwd["Content-Length"] = str(len(body))
        conn = http.client.HTTPConnection(o.up_host, o.up_port, timeout=300)
        try:
            conn.request(self.command, self.path, body=body, headers=fwd)
            resp = conn.getresponse()
            rbody = resp.read()
            rheaders = resp.getheaders()
        except (OSError, http.client.HTTPException):
            self.hang_up()
            entry.update(status=599, end=time.time())
            return self.record(**entry)
        finally:
            conn.close()
        code = error_code(rheaders, rbody) if resp.status >= 400 else None
        entry.update(status=resp.status, code=code)
        if 200 <= resp.status < 300:
            # Armed before the client can see the answer (and even if it is dropped below:
            # moto made the change), so the client's next call finds the race.
            self.arm_races(service, action, bucket_of(service, self.path))
            rbody, race_code = self.rewrite(service, action, rbody)
            if race_code:
                entry.update(injected="race", code=race_code)
        if write and r_drop < o.drop_after_rate:
            self.hang_up()
            entry.update(injected="dropped", end=time.time())
            return self.record(**entry)
        entry["end"] = time.time()
        self.record(**entry)
        try:
            self.answer(resp.status, resp.reason, rheaders, rbody)
        except OSError:
            self.close_connection = True

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = handle_any


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--upstream", required=True, help="http://127.0.0.1:PORT of moto")
    p.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT, port 0 = any free port")
    p.add_argument("--port-file")
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--error-rate", type=float, default=0.0)
    p.add_argument("--drop-after-rate", type=float, default=0.0)
    p.add_argument(
        "--not-ready-rate",
        type=float,
        default=0.0,
        help="answer this share of the calls AWS may find not ready (see NOT_READY) with that error",
    )
    p.add_argument(
        "--not-ready-first",
        type=int,
        default=0,
        help="answer the first N calls of each such operation not ready",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log")
    p.add_argument(
        "--expire-after",
        type=int,
        help="answer every call after the first N with the service's expired-token error",
    )
    p.add_argument(
        "--deny",
        type=lambda v: {a for a in v.split(",") if a},
        default=set(),
        help="answer these operations (e.g. ListTags,GetParameters) with the service's AccessDenied",
    )
    p.add_argument(
        "--races",
        type=races_arg,
        default=frozenset(),
        help=f"comma-separated answers AWS gives while a change propagates: {','.join(RACES)}",
    )
    p.add_argument(
        "--caller-arn",
        help="rewrite the Arn of every successful STS GetCallerIdentity answer to ARN",
    )
    p.add_argument(
        "--dependencies",
        action="store_true",
        help="refuse EC2 DeleteSecurityGroup/DeleteSubnet with DependencyViolation while a"
        " live instance (asked of moto) still uses the group or subnet, as AWS does",
    )
    p.add_argument("--parent-pid", type=int)
    o = p.parse_args()
    up = urllib.parse.urlsplit(o.upstream)
    o.up_host, o.up_port = up.hostname, up.port or 80
    if o.parent_pid:
        watch_parent(o.parent_pid)
    Proxy.opts, Proxy.rng = o, random.Random(o.seed)
    if o.log:
        Proxy.log = open(o.log, "a", buffering=1)
    host, _, port = o.listen.rpartition(":")
    http.server.ThreadingHTTPServer.request_queue_size = 128
    server = http.server.ThreadingHTTPServer((host or "127.0.0.1", int(port)), Proxy)
    server.daemon_threads = True
    actual = server.server_address[1]
    if o.port_file:
        tmp = f"{o.port_file}.tmp{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(f"{actual}\n")
        os.replace(tmp, o.port_file)
    print(f"LISTENING {actual}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
