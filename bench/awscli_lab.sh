#!/usr/bin/env bash
# The shipped lab done as a folder of shell scripts does it: the aws CLI, one command
# after another.   bench/awscli_lab.sh ENDPOINT LAB LAYER_ZIP create|readback|destroy
set -euo pipefail
ENDPOINT=$1 LAB=$2 LAYER_ZIP=$3 STEP=$4
ACCOUNT=123456789012 SRC=$LAB-source-$ACCOUNT BAK=$LAB-backup-$ACCOUNT ROLE=$LAB-lambda RULE=$LAB-compress-0
ROOT=$(cd "$(dirname "$0")/.." && pwd)
aws() { command aws --endpoint-url "$ENDPOINT" --region us-east-1 --output json "$@"; }
TAGS='[{"Key":"labctl:lab","Value":"cli-'$LAB'"},{"Key":"course","Value":"cloud-101"}]'
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

create() {
  for b in "$SRC" "$BAK"; do
    aws s3api create-bucket --bucket "$b" >/dev/null
    aws s3api put-bucket-tagging --bucket "$b" --tagging "{\"TagSet\":$TAGS}"
    aws s3api put-public-access-block --bucket "$b" --public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
    aws s3api put-bucket-versioning --bucket "$b" --versioning-configuration Status=Enabled
    aws s3api put-bucket-encryption --bucket "$b" --server-side-encryption-configuration '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}'
  done
  aws s3api put-bucket-lifecycle-configuration --bucket "$SRC" --lifecycle-configuration '{"Rules":[{"ID":"tiering","Status":"Enabled","Filter":{"Prefix":"uploads/"},"Transitions":[{"Days":30,"StorageClass":"STANDARD_IA"},{"Days":90,"StorageClass":"GLACIER_IR"}],"Expiration":{"Days":365},"NoncurrentVersionExpiration":{"NoncurrentDays":30}}]}'
  aws s3api put-bucket-lifecycle-configuration --bucket "$BAK" --lifecycle-configuration '{"Rules":[{"ID":"old-versions","Status":"Enabled","Filter":{"Prefix":""},"NoncurrentVersionExpiration":{"NoncurrentDays":30},"AbortIncompleteMultipartUpload":{"DaysAfterInitiation":7}}]}'
  arn=$(aws iam create-role --role-name "$ROLE" --assume-role-policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}' --tags "$TAGS" --query Role.Arn --output text)
  aws iam put-role-policy --role-name "$ROLE" --policy-name s3-access --policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:GetObjectVersion"],"Resource":"arn:aws:s3:::'"$SRC"'/*"},{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::'"$SRC"'"},{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::'"$BAK"'/*"}]}'
  aws iam attach-role-policy --role-name "$ROLE" --policy-arn arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole
  layer=$(aws lambda publish-layer-version --layer-name "$LAB-pillow" --zip-file "fileb://$LAYER_ZIP" --compatible-runtimes python3.12 --query LayerVersionArn --output text)
  for f in backup compress; do (cd "$ROOT/lambdas/$f" && python3 -c "import zipfile; z=zipfile.ZipFile('$work/$f.zip','w',zipfile.ZIP_DEFLATED); z.write('app.py')"); done
  aws lambda create-function --function-name "$LAB-backup" --runtime python3.12 --role "$arn" --handler app.handler --zip-file "fileb://$work/backup.zip" --timeout 60 --memory-size 256 --environment "Variables={DEST_BUCKET=$BAK}" >/dev/null
  aws lambda wait function-active-v2 --function-name "$LAB-backup"
  aws lambda create-function --function-name "$LAB-compress" --runtime python3.12 --role "$arn" --handler app.handler --zip-file "fileb://$work/compress.zip" --timeout 60 --memory-size 1024 --layers "$layer" --environment "Variables={DEST_BUCKET=$BAK,DEST_PREFIX=compressed/}" >/dev/null
  aws lambda wait function-active-v2 --function-name "$LAB-compress"
  aws lambda add-permission --function-name "$LAB-backup" --statement-id s3 --action lambda:InvokeFunction --principal s3.amazonaws.com --source-arn "arn:aws:s3:::$SRC" --source-account $ACCOUNT >/dev/null
  aws lambda add-permission --function-name "$LAB-compress" --statement-id events --action lambda:InvokeFunction --principal events.amazonaws.com --source-arn "arn:aws:events:us-east-1:$ACCOUNT:rule/$RULE" >/dev/null
  aws s3api put-bucket-notification-configuration --bucket "$SRC" --notification-configuration '{"LambdaFunctionConfigurations":[{"Id":"backup","LambdaFunctionArn":"arn:aws:lambda:us-east-1:'$ACCOUNT':function:'"$LAB"'-backup","Events":["s3:ObjectCreated:*"]}],"EventBridgeConfiguration":{}}'
  aws events put-rule --name "$RULE" --event-pattern '{"source":["aws.s3"],"detail-type":["Object Created"],"detail":{"bucket":{"name":["'"$SRC"'"]},"object":{"key":[{"suffix":{"equals-ignore-case":".jpg"}},{"suffix":{"equals-ignore-case":".jpeg"}}]}}}' >/dev/null
  aws events put-targets --rule "$RULE" --targets "Id=lambda,Arn=arn:aws:lambda:us-east-1:$ACCOUNT:function:$LAB-compress" >/dev/null
  vpc=$(aws ec2 describe-vpcs --filters Name=isDefault,Values=true --query 'Vpcs[0].VpcId' --output text)
  aws ec2 create-subnet --vpc-id "$vpc" --cidr-block 172.31.210.0/24 --availability-zone us-east-1a --tag-specifications "ResourceType=subnet,Tags=[{Key=labctl:lab,Value=cli-$LAB}]" >/dev/null
  aws ec2 create-subnet --vpc-id "$vpc" --cidr-block 172.31.211.0/24 --availability-zone us-east-1b --tag-specifications "ResourceType=subnet,Tags=[{Key=labctl:lab,Value=cli-$LAB}]" >/dev/null
  sg=$(aws ec2 create-security-group --group-name "$LAB-ssh" --description "SSH into lab machines" --vpc-id "$vpc" --tag-specifications "ResourceType=security-group,Tags=[{Key=labctl:lab,Value=cli-$LAB}]" --query GroupId --output text)
  aws ec2 authorize-security-group-ingress --group-id "$sg" --protocol tcp --port 22 --cidr 203.0.113.0/24 >/dev/null
  aws ec2 authorize-security-group-ingress --group-id "$sg" --protocol udp --port 60000-61000 --cidr 203.0.113.0/24 >/dev/null
}

readback() {
  for b in "$SRC" "$BAK"; do
    for c in get-bucket-tagging get-public-access-block get-bucket-versioning get-bucket-encryption get-bucket-lifecycle-configuration get-bucket-notification-configuration; do
      aws s3api "$c" --bucket "$b" >/dev/null
    done
  done
  aws iam get-role --role-name "$ROLE" >/dev/null
  aws iam list-role-policies --role-name "$ROLE" >/dev/null
  aws iam get-role-policy --role-name "$ROLE" --policy-name s3-access >/dev/null
  aws iam list-attached-role-policies --role-name "$ROLE" >/dev/null
  for f in backup compress; do
    aws lambda get-function --function-name "$LAB-$f" >/dev/null
    aws lambda get-policy --function-name "$LAB-$f" >/dev/null
  done
  aws lambda list-layer-versions --layer-name "$LAB-pillow" >/dev/null
  RULE_ARN=$(aws events describe-rule --name "$RULE" --query Arn --output text)
  aws events list-targets-by-rule --rule "$RULE" >/dev/null
  aws events list-tags-for-resource --resource-arn "$RULE_ARN" >/dev/null
  aws ec2 describe-subnets --filters "Name=tag:labctl:lab,Values=cli-$LAB" >/dev/null
  aws ec2 describe-security-groups --filters "Name=tag:labctl:lab,Values=cli-$LAB" >/dev/null
}

destroy() {
  aws events remove-targets --rule "$RULE" --ids lambda >/dev/null
  aws events delete-rule --name "$RULE"
  aws s3api put-bucket-notification-configuration --bucket "$SRC" --notification-configuration '{}'
  aws lambda delete-function --function-name "$LAB-backup"
  aws lambda delete-function --function-name "$LAB-compress"
  for v in $(aws lambda list-layer-versions --layer-name "$LAB-pillow" --query 'LayerVersions[].Version' --output text); do
    aws lambda delete-layer-version --layer-name "$LAB-pillow" --version-number "$v"
  done
  aws iam detach-role-policy --role-name "$ROLE" --policy-arn arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole
  aws iam delete-role-policy --role-name "$ROLE" --policy-name s3-access
  aws iam delete-role --role-name "$ROLE"
  for b in "$SRC" "$BAK"; do aws s3 rb "s3://$b" --force >/dev/null; done
  for g in $(aws ec2 describe-security-groups --filters "Name=tag:labctl:lab,Values=cli-$LAB" --query 'SecurityGroups[].GroupId' --output text); do aws ec2 delete-security-group --group-id "$g"; done
  for s in $(aws ec2 describe-subnets --filters "Name=tag:labctl:lab,Values=cli-$LAB" --query 'Subnets[].SubnetId' --output text); do aws ec2 delete-subnet --subnet-id "$s"; done
}

"$STEP"
