"""labctl's stand-in for the Lambda Python runtime: runs one handler once.

Given a spec file (the import path, handler, event, context fields, deadline), it
imports the handler as Lambda does (task root first, then the layers, then the
runtime's libraries), logs in Lambda's format, records every S3 write the handler
makes through botocore (so labctl can fire the triggers those writes would fire on
AWS), and writes the result or the error in Lambda's shape.
"""

import importlib
import json
import logging
import os
import resource
import sys
import time
import traceback

spec_path = sys.argv[1]
with open(spec_path, encoding="utf-8") as f:
    spec = json.load(f)

# Everything the handler prints is its log, as in CloudWatch Logs.
os.dup2(sys.stdout.fileno(), 2)
sys.path[0:1] = spec["path"]
request_id = spec["request_id"]


class LambdaFormatter(logging.Formatter):
    converter = time.gmtime

    def format(self, record):
        record.aws_request_id = request_id
        return super().format(record)


handler = logging.StreamHandler(sys.stdout)
handler.setFormatter(
    LambdaFormatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
        "%Y-%m-%dT%H:%M:%S",
    )
)
logging.getLogger().addHandler(handler)


class Context:
    def __init__(self, c):
        self.function_name = c["function_name"]
        self.function_version = "$LATEST"
        self.invoked_function_arn = c["invoked_function_arn"]
        self.memory_limit_in_mb = c["memory_limit_in_mb"]
        self.aws_request_id = request_id
        self.log_group_name = c["log_group_name"]
        self.log_stream_name = c["log_stream_name"]
        self.identity = None
        self.client_context = None
        self._deadline = c["deadline_ms"]

    def get_remaining_time_in_millis(self):
        return max(0, int(self._deadline - time.time() * 1000))


def record(op, bucket, key, version=None, marker=False):
    entry = {"op": op, "bucket": bucket, "key": key, "version": version, "marker": marker}
    with open(spec["writes"], "a", encoding="utf-8") as writes:
        writes.write(json.dumps(entry) + "\n")


def watch_s3_writes():
    try:
        import botocore.client
    except ImportError:
        return
    original = botocore.client.BaseClient._make_api_call

    def recording(self, operation_name, api_params):
        result = original(self, operation_name, api_params)
        if self.meta.service_model.service_name != "s3":
            return result
        if operation_name in ("PutObject", "CopyObject", "CompleteMultipartUpload"):
            record(operation_name, api_params["Bucket"], api_params["Key"], result.get("VersionId"))
        elif operation_name == "DeleteObject":
            record(
                operation_name,
                api_params["Bucket"],
                api_params["Key"],
                result.get("VersionId"),
                bool(result.get("DeleteMarker")),
            )
        elif operation_name == "DeleteObjects":
            for d in result.get("Deleted", []):
                record(
                    "DeleteObject",
                    api_params["Bucket"],
                    d["Key"],
                    d.get("DeleteMarkerVersionId") or d.get("VersionId"),
                    bool(d.get("DeleteMarker")),
                )
        return result

    botocore.client.BaseClient._make_api_call = recording


def error_of(exc, error_type=None, message=None):
    return {
        "errorMessage": message if message is not None else str(exc),
        "errorType": error_type or type(exc).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_list(traceback.extract_tb(exc.__traceback__)),
    }


def log_error(err):
    lines = [f"[ERROR] {err['errorType']}: {err['errorMessage']}"]
    if err["stackTrace"]:
        lines.append("Traceback (most recent call last):")
        lines.extend(s.rstrip("\n") for s in err["stackTrace"])
    print("\n".join(lines), flush=True)


def finish(outcome):
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kilobytes, macOS bytes.
    outcome["max_memory_mb"] = usage // (1024 * 1024) if sys.platform == "darwin" else usage // 1024
    with open(spec["result"], "w", encoding="utf-8") as f:
        json.dump(outcome, f)
    sys.stdout.flush()
    os._exit(0)


def main():
    watch_s3_writes()
    module_name, _, function_name = spec["handler"].rpartition(".")
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except Exception as exc:
        err = error_of(
            exc, "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}"
        )
        # Lambda shows no frames for this error: they would all be importlib's.
        err["stackTrace"] = []
        log_error(err)
        finish({"error": err})
    function = getattr(module, function_name, None)
    if not callable(function):
        err = {
            "errorMessage": f"Handler '{function_name}' missing on module '{module_name}'",
            "errorType": "Runtime.HandlerNotFound",
            "requestId": request_id,
            "stackTrace": [],
        }
        log_error(err)
        finish({"error": err})
    try:
        result = function(spec["event"], Context(spec["context"]))
    except Exception as exc:
        err = error_of(exc)
        log_error(err)
        finish({"error": err})
    try:
        json.dumps(result)
    except (TypeError, ValueError) as exc:
        err = error_of(exc, "Runtime.MarshalError", f"Unable to marshal response: {exc}")
        log_error(err)
        finish({"error": err})
    finish({"result": result})


main()
