# The instance role: least privilege for one worker. Every statement names the
# resources it acts on, except the EC2 image actions listed in the
# "ImageReadOnly" and "ImageCreate" statements, which AWS does not authorize
# per resource (see the comments there); those are pinned to the allowed
# regions instead.

locals {
  image_regions = length(var.image_regions) > 0 ? var.image_regions : [local.region]

  # A secret given by name matches its ARN plus the 6-character random
  # suffix Secrets Manager appends: "-??????" matches exactly that secret
  # and not one whose name merely starts the same.
  secret_arns = [
    for v in values(var.secrets) :
    startswith(v, "arn:") ? v : "arn:${local.partition}:secretsmanager:${local.region}:${local.account_id}:secret:${v}-??????"
  ]

  bucket_arn   = "arn:${local.partition}:s3:::${var.image_bucket_name}"
  vmimport_arn = "arn:${local.partition}:iam::${local.account_id}:role/${var.vmimport_role_name}"

  image_arns    = [for r in local.image_regions : "arn:${local.partition}:ec2:${r}::image/*"]
  snapshot_arns = [for r in local.image_regions : "arn:${local.partition}:ec2:${r}::snapshot/*"]
}

data "aws_iam_policy_document" "assume_ec2" {
  statement {
    sid     = "Ec2AssumesWorkerRole"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "worker" {
  name               = "${var.name}-instance"
  description        = "ib-worker instances of fleet ${var.name}"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json
  tags               = local.tags
}

resource "aws_iam_instance_profile" "worker" {
  name = "${var.name}-instance"
  role = aws_iam_role.worker.name
  tags = local.tags
}

data "aws_iam_policy_document" "worker" {
  # Read exactly the secrets named in the user data.
  dynamic "statement" {
    for_each = length(local.secret_arns) > 0 ? [1] : []
    content {
      sid       = "ReadNamedSecrets"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = local.secret_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.secrets_kms_key_arns) > 0 ? [1] : []
    content {
      sid       = "DecryptSecretsViaSecretsManager"
      actions   = ["kms:Decrypt"]
      resources = var.secrets_kms_key_arns
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${local.region}.amazonaws.com"]
      }
    }
  }

  # Its own log group and the streams in it.
  statement {
    sid     = "WriteOwnLogs"
    actions = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [
      aws_cloudwatch_log_group.worker.arn,
      "${aws_cloudwatch_log_group.worker.arn}:log-stream:*",
    ]
  }

  # Scale-in protection while building and draining on termination, on its
  # own group only; SetInstanceHealth is first boot giving up on itself so
  # that the group replaces the instance.
  statement {
    sid = "OwnGroupLifecycle"
    actions = [
      "autoscaling:SetInstanceProtection",
      "autoscaling:RecordLifecycleActionHeartbeat",
      "autoscaling:CompleteLifecycleAction",
      "autoscaling:SetInstanceHealth",
    ]
    resources = [aws_autoscaling_group.worker.arn]
  }

  # Upload images, read them back, remove them once imported.
  statement {
    sid = "ImageBucketObjects"
    actions = [
      "s3:PutObject",
      "s3:GetObject",
      "s3:DeleteObject",
      "s3:AbortMultipartUpload",
    ]
    resources = ["${local.bucket_arn}/*"]
  }

  # Read-only EC2 calls. Describe* actions have no resource-level
  # permissions in EC2: the only accepted Resource is "*". Pinned to the
  # image regions.
  statement {
    sid = "ImageReadOnly"
    actions = [
      "ec2:DescribeImportSnapshotTasks",
      "ec2:DescribeImages",
      "ec2:DescribeSnapshots",
    ]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = local.image_regions
    }
  }

  # Calls that create images or snapshots whose ids do not exist yet.
  # VM Import/Export documents ImportSnapshot with Resource "*" only, and
  # RegisterImage/CopyImage authorize against the new image, whose ARN is
  # unknown when the policy is written. CancelImportTask (a canceled job
  # stops its import) acts on such an import task. Pinned to the image
  # regions.
  statement {
    sid = "ImageCreate"
    actions = [
      "ec2:ImportSnapshot",
      "ec2:CancelImportTask",
      "ec2:RegisterImage",
      "ec2:CopyImage",
    ]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = local.image_regions
    }
  }

  # Tag and share what it created: images and snapshots in the image
  # regions (ids unknown in advance, so by type and region).
  statement {
    sid = "ImageTagShare"
    actions = [
      "ec2:CreateTags",
      "ec2:ModifyImageAttribute",
      "ec2:ModifySnapshotAttribute",
    ]
    resources = concat(local.image_arns, local.snapshot_arns)
  }

  # What a failed upload made is removed by the worker that made it: the
  # AMI registered before a later step (tag, share) failed or the job was
  # canceled, then its snapshot (EC2 keeps a snapshot an image uses), or
  # the snapshot alone when registration failed. Images and snapshots in
  # the image regions.
  statement {
    sid       = "DeregisterFailedImages"
    actions   = ["ec2:DeregisterImage"]
    resources = local.image_arns
  }

  statement {
    sid       = "DeleteFailedImports"
    actions   = ["ec2:DeleteSnapshot"]
    resources = local.snapshot_arns
  }

  # ImportSnapshot hands the upload to the vmimport service role.
  statement {
    sid       = "PassVmimportRole"
    actions   = ["iam:PassRole"]
    resources = [local.vmimport_arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["vmie.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "worker" {
  name   = "${var.name}-worker"
  role   = aws_iam_role.worker.id
  policy = data.aws_iam_policy_document.worker.json
}

# --- VM Import/Export service role --------------------------------------------

data "aws_iam_policy_document" "assume_vmie" {
  statement {
    sid     = "VmieAssumesVmimport"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["vmie.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "sts:ExternalId"
      values   = ["vmimport"]
    }
  }
}

resource "aws_iam_role" "vmimport" {
  count              = var.create_vmimport_role ? 1 : 0
  name               = var.vmimport_role_name
  description        = "VM Import/Export reads uploaded images from ${var.image_bucket_name}"
  assume_role_policy = data.aws_iam_policy_document.assume_vmie.json
  tags               = local.tags
}

data "aws_iam_policy_document" "vmimport" {
  statement {
    sid       = "ReadImageBucket"
    actions   = ["s3:GetBucketLocation", "s3:ListBucket"]
    resources = [local.bucket_arn]
  }

  statement {
    sid       = "ReadImageObjects"
    actions   = ["s3:GetObject"]
    resources = ["${local.bucket_arn}/*"]
  }

  statement {
    sid = "MakeSnapshots"
    actions = [
      "ec2:ModifySnapshotAttribute",
      "ec2:CopySnapshot",
      "ec2:RegisterImage",
    ]
    resources = concat(local.image_arns, local.snapshot_arns)
  }

  # Describe* again has no resource-level permissions.
  statement {
    sid       = "DescribeForImport"
    actions   = ["ec2:DescribeSnapshots", "ec2:DescribeImages", "ec2:DescribeImportSnapshotTasks"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = local.image_regions
    }
  }
}

resource "aws_iam_role_policy" "vmimport" {
  count  = var.create_vmimport_role ? 1 : 0
  name   = "${var.name}-vmimport"
  role   = aws_iam_role.vmimport[0].id
  policy = data.aws_iam_policy_document.vmimport.json
}
