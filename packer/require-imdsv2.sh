#!/bin/sh
# Post-processor of the amazon-ebs build: marks the new AMI IMDSv2-only
# (instances launched from it refuse IMDSv1), which Packer 1.6.6 cannot ask
# for at registration. Env: MANIFEST (Packer's manifest), AWS_REGION.
set -eu

id=$(jq -r '.last_run_uuid as $u | .builds[] | select(.packer_run_uuid == $u)
    | select(.builder_type == "amazon-ebs") | .artifact_id' "$MANIFEST" |
    tail -n 1)
case $id in
*:ami-*) ;;
*) echo "require-imdsv2: no AMI in $MANIFEST" >&2; exit 1 ;;
esac
region=${id%%:*}
ami=${id#*:}
aws ec2 modify-image-attribute --region "$region" --image-id "$ami" \
    --imds-support v2.0
echo "require-imdsv2: $ami in $region now requires IMDSv2"
