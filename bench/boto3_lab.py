"""The shipped lab done the way a student script does it: boto3, one call after another.

    python bench/boto3_lab.py ENDPOINT LAB LAYER_ZIP create|readback|destroy

Same resources as lab.yaml (2 buckets with settings, role, layer, 2 functions, their
permissions, the notification, the EventBridge rule, 2 subnets, the SSH group).
"""

import io
import json
import pathlib
import sys
import zipfile

import boto3

ENDPOINT, LAB, LAYER_ZIP, STEP = sys.argv[1:5]
ACCOUNT = "123456789012"
ROOT = pathlib.Path(__file__).resolve().parent.parent
kw = {"endpoint_url": ENDPOINT, "region_name": "us-east-1"}
s3, iam, lam, ev, ec2 = (boto3.client(s, **kw) for s in ("s3", "iam", "lambda", "events", "ec2"))
SRC, BAK = f"{LAB}-source-{ACCOUNT}", f"{LAB}-backup-{ACCOUNT}"
ROLE = f"{LAB}-lambda"
TAGS = [{"Key": "labctl:lab", "Value": f"script-{LAB}"}, {"Key": "course", "Value": "cloud-101"}]


def code(folder):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(ROOT / "lambdas" / folder / "app.py", "app.py")
    return buf.getvalue()


def create():
    for b, rules in (
        (
            SRC,
            [
                {
                    "ID": "tiering",
                    "Status": "Enabled",
                    "Filter": {"Prefix": "uploads/"},
                    "Transitions": [
                        {"Days": 30, "StorageClass": "STANDARD_IA"},
                        {"Days": 90, "StorageClass": "GLACIER_IR"},
                    ],
                    "Expiration": {"Days": 365},
                    "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
                }
            ],
        ),
        (
            BAK,
            [
                {
                    "ID": "old-versions",
                    "Status": "Enabled",
                    "Filter": {"Prefix": ""},
                    "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
                }
            ],
        ),
    ):
        s3.create_bucket(Bucket=b)
        s3.put_bucket_tagging(Bucket=b, Tagging={"TagSet": TAGS})
        s3.put_public_access_block(
            Bucket=b,
            PublicAccessBlockConfiguration=dict.fromkeys(
                (
                    "BlockPublicAcls",
                    "IgnorePublicAcls",
                    "BlockPublicPolicy",
                    "RestrictPublicBuckets",
                ),
                True,
            ),
        )
        s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_encryption(
            Bucket=b,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        )
        s3.put_bucket_lifecycle_configuration(Bucket=b, LifecycleConfiguration={"Rules": rules})
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    arn = iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust), Tags=TAGS)[
        "Role"
    ]["Arn"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                "Resource": f"arn:aws:s3:::{SRC}/*",
            },
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{SRC}"},
            {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{BAK}/*"},
        ],
    }
    iam.put_role_policy(RoleName=ROLE, PolicyName="s3-access", PolicyDocument=json.dumps(policy))
    iam.attach_role_policy(
        RoleName=ROLE, PolicyArn="arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    )
    layer = lam.publish_layer_version(
        LayerName=f"{LAB}-pillow",
        Content={"ZipFile": pathlib.Path(LAYER_ZIP).read_bytes()},
        CompatibleRuntimes=["python3.12"],
    )["LayerVersionArn"]
    fns = {}
    for name, env, layers, mem in (
        ("backup", {"DEST_BUCKET": BAK}, [], 256),
        ("compress", {"DEST_BUCKET": BAK, "DEST_PREFIX": "compressed/"}, [layer], 1024),
    ):
        fn = f"{LAB}-{name}"
        fns[name] = lam.create_function(
            FunctionName=fn,
            Runtime="python3.12",
            Role=arn,
            Handler="app.handler",
            Code={"ZipFile": code(name)},
            Timeout=60,
            MemorySize=mem,
            Environment={"Variables": env},
            Layers=layers,
            Tags={"course": "cloud-101"},
        )["FunctionArn"]
        lam.get_waiter("function_active_v2").wait(FunctionName=fn)
    lam.add_permission(
        FunctionName=f"{LAB}-backup",
        StatementId="s3",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn=f"arn:aws:s3:::{SRC}",
        SourceAccount=ACCOUNT,
    )
    rule = f"{LAB}-compress-0"
    rule_arn = f"arn:aws:events:us-east-1:{ACCOUNT}:rule/{rule}"
    lam.add_permission(
        FunctionName=f"{LAB}-compress",
        StatementId="events",
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn=rule_arn,
    )
    s3.put_bucket_notification_configuration(
        Bucket=SRC,
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {
                    "Id": "backup",
                    "LambdaFunctionArn": fns["backup"],
                    "Events": ["s3:ObjectCreated:*"],
                }
            ],
            "EventBridgeConfiguration": {},
        },
    )
    pattern = {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [SRC]},
            "object": {
                "key": [
                    {"suffix": {"equals-ignore-case": ".jpg"}},
                    {"suffix": {"equals-ignore-case": ".jpeg"}},
                ]
            },
        },
    }
    ev.put_rule(Name=rule, EventPattern=json.dumps(pattern), Tags=TAGS)
    ev.put_targets(Rule=rule, Targets=[{"Id": "lambda", "Arn": fns["compress"]}])
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    for cidr, az in (("172.31.200.0/24", "us-east-1a"), ("172.31.201.0/24", "us-east-1b")):
        ec2.create_subnet(
            VpcId=vpc,
            CidrBlock=cidr,
            AvailabilityZone=az,
            TagSpecifications=[{"ResourceType": "subnet", "Tags": TAGS}],
        )
    sg = ec2.create_security_group(
        GroupName=f"{LAB}-ssh",
        Description="SSH into lab machines",
        VpcId=vpc,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": TAGS}],
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=sg,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "203.0.113.0/24"}],
            }
        ],
    )
    ec2.authorize_security_group_ingress(
        GroupId=sg,
        IpPermissions=[
            {
                "IpProtocol": "udp",
                "FromPort": 60000,
                "ToPort": 61000,
                "IpRanges": [{"CidrIp": "203.0.113.0/24"}],
            }
        ],
    )


def readback():
    """Everything a drift check has to read, one call after another."""
    for b in (SRC, BAK):
        for call in (
            s3.get_bucket_tagging,
            s3.get_public_access_block,
            s3.get_bucket_versioning,
            s3.get_bucket_encryption,
            s3.get_bucket_lifecycle_configuration,
            s3.get_bucket_notification_configuration,
        ):
            call(Bucket=b)
    iam.get_role(RoleName=ROLE)
    for p in iam.list_role_policies(RoleName=ROLE)["PolicyNames"]:
        iam.get_role_policy(RoleName=ROLE, PolicyName=p)
    iam.list_attached_role_policies(RoleName=ROLE)
    for f in ("backup", "compress"):
        lam.get_function(FunctionName=f"{LAB}-{f}")
        lam.get_policy(FunctionName=f"{LAB}-{f}")
    lam.list_layer_versions(LayerName=f"{LAB}-pillow")
    rule = ev.describe_rule(Name=f"{LAB}-compress-0")
    ev.list_targets_by_rule(Rule=f"{LAB}-compress-0")
    # create tags the rule: a drift check reads its tags like every other resource's
    ev.list_tags_for_resource(ResourceARN=rule["Arn"])
    tag = [{"Name": "tag:labctl:lab", "Values": [f"script-{LAB}"]}]
    ec2.describe_subnets(Filters=tag)
    ec2.describe_security_groups(Filters=tag)


def destroy():
    rule = f"{LAB}-compress-0"
    ev.remove_targets(Rule=rule, Ids=["lambda"])
    ev.delete_rule(Name=rule)
    s3.put_bucket_notification_configuration(Bucket=SRC, NotificationConfiguration={})
    for f in ("backup", "compress"):
        lam.delete_function(FunctionName=f"{LAB}-{f}")
    for v in lam.list_layer_versions(LayerName=f"{LAB}-pillow")["LayerVersions"]:
        lam.delete_layer_version(LayerName=f"{LAB}-pillow", VersionNumber=v["Version"])
    iam.detach_role_policy(
        RoleName=ROLE, PolicyArn="arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    )
    iam.delete_role_policy(RoleName=ROLE, PolicyName="s3-access")
    iam.delete_role(RoleName=ROLE)
    for b in (SRC, BAK):
        versions = s3.list_object_versions(Bucket=b)
        objs = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in versions.get("Versions", []) + versions.get("DeleteMarkers", [])
        ]
        if objs:
            s3.delete_objects(Bucket=b, Delete={"Objects": objs})
        s3.delete_bucket(Bucket=b)
    tag = [{"Name": "tag:labctl:lab", "Values": [f"script-{LAB}"]}]
    for g in ec2.describe_security_groups(Filters=tag)["SecurityGroups"]:
        ec2.delete_security_group(GroupId=g["GroupId"])
    for s in ec2.describe_subnets(Filters=tag)["Subnets"]:
        ec2.delete_subnet(SubnetId=s["SubnetId"])


{"create": create, "readback": readback, "destroy": destroy}[STEP]()
