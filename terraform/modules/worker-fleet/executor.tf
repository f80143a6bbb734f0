# The aws.ec2 osbuild executor, when executor_ami is set: each build runs on
# a throwaway instance of that AMI that the worker launches, reaches on the
# agent's port and terminates. Here: the executor's security group (the
# agent's port open to the workers' groups only; out only what a manifest's
# sources need), its instance profile (a role with no policy: a build holds
# no credential) and what the worker's role needs to launch, watch, tag and
# terminate those instances, scoped by the ib-executor tag the worker puts
# on them. The [osbuild_executor] settings go to the worker through the
# user data (userdata.tf; the security group id and region are added here,
# as they exist only once AWS made them).

locals {
  executor_enabled  = var.executor_ami != null
  executor_tag      = "ib-executor" # worker/daemon/executor/executor_ec2.c
  executor_role_arn = "arn:${local.partition}:iam::${local.account_id}:role/${var.name}-executor"
  executor_arn_base = "arn:${local.partition}:ec2:${local.region}:${local.account_id}"

  # The user data with the settings only AWS knows added to executor.
  user_data_launch = local.executor_enabled ? jsonencode(merge(local.user_data_document, {
    executor = merge(local.user_data_document.executor, {
      security_group = aws_security_group.executor[0].id
      region         = local.region
    })
  })) : local.user_data
}

data "aws_subnet" "executor" {
  count = local.executor_enabled ? 1 : 0
  id    = local.executor_subnet_id
}

resource "aws_security_group" "executor" {
  count       = local.executor_enabled ? 1 : 0
  name        = "${var.name}-executor"
  description = "ib-worker fleet ${var.name}: build instances, reached by the workers only"
  vpc_id      = data.aws_subnet.executor[0].vpc_id
  tags        = merge(local.tags, { Name = "${var.name}-executor" })

  lifecycle {
    precondition {
      condition     = length(var.security_group_ids) > 0
      error_message = "executor_ami needs security_group_ids: the executor's group admits the workers' groups only."
    }
  }
}

# The agent's port, from the workers' groups and nothing else.
resource "aws_vpc_security_group_ingress_rule" "executor_agent" {
  for_each                     = local.executor_enabled ? toset(var.security_group_ids) : toset([])
  security_group_id            = aws_security_group.executor[0].id
  description                  = "ib-agent, from the workers"
  ip_protocol                  = "tcp"
  from_port                    = local.executor_agent_port
  to_port                      = local.executor_agent_port
  referenced_security_group_id = each.value
}

# Out: what the manifests' sources are fetched over, HTTP and HTTPS (the
# worker sends those its cache has; the builder fetches the others).
resource "aws_vpc_security_group_egress_rule" "executor_sources" {
  for_each = local.executor_enabled ? {
    for p in setproduct(var.executor_source_cidrs, [80, 443]) : "${p[0]}:${p[1]}" => p
  } : {}
  security_group_id = aws_security_group.executor[0].id
  description       = "the manifests' sources"
  ip_protocol       = "tcp"
  from_port         = each.value[1]
  to_port           = each.value[1]
  cidr_ipv4         = each.value[0]
}

resource "aws_iam_role" "executor" {
  count              = local.executor_enabled ? 1 : 0
  name               = "${var.name}-executor"
  description        = "ib-worker fleet ${var.name}: build instances (no permission: a build holds no credential)"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json
  tags               = local.tags
}

resource "aws_iam_instance_profile" "executor" {
  count = local.executor_enabled ? 1 : 0
  name  = "${var.name}-executor"
  role  = aws_iam_role.executor[0].name
  tags  = local.tags
}

data "aws_iam_policy_document" "executor" {
  # Launch only instances that carry the worker's tag, of the executor
  # AMI, in the executor's subnet and group.
  statement {
    sid       = "ExecutorRunTaggedInstances"
    actions   = ["ec2:RunInstances"]
    resources = ["${local.executor_arn_base}:instance/*"]
    condition {
      test     = "StringLike"
      variable = "aws:RequestTag/${local.executor_tag}"
      values   = ["ibx-*"]
    }
  }
  statement {
    sid     = "ExecutorRunFromItsParts"
    actions = ["ec2:RunInstances"]
    resources = [
      "arn:${local.partition}:ec2:${local.region}::image/${coalesce(var.executor_ami, "none")}",
      "${local.executor_arn_base}:subnet/${local.executor_subnet_id}",
      "${local.executor_arn_base}:security-group/${try(aws_security_group.executor[0].id, "none")}",
      "${local.executor_arn_base}:network-interface/*",
      "${local.executor_arn_base}:volume/*",
    ]
  }
  # Tags only as part of that launch.
  statement {
    sid       = "ExecutorTagAtLaunch"
    actions   = ["ec2:CreateTags"]
    resources = ["${local.executor_arn_base}:instance/*", "${local.executor_arn_base}:volume/*"]
    condition {
      test     = "StringEquals"
      variable = "ec2:CreateAction"
      values   = ["RunInstances"]
    }
  }
  # Terminate only what a worker launched.
  statement {
    sid       = "ExecutorTerminateTagged"
    actions   = ["ec2:TerminateInstances"]
    resources = ["${local.executor_arn_base}:instance/*"]
    condition {
      test     = "StringLike"
      variable = "aws:ResourceTag/${local.executor_tag}"
      values   = ["ibx-*"]
    }
  }
  # DescribeInstances has no resource-level permission in EC2.
  statement {
    sid       = "ExecutorDescribe"
    actions   = ["ec2:DescribeInstances"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [local.region]
    }
  }
  # The executor's profile, to EC2 only.
  statement {
    sid       = "ExecutorPassRole"
    actions   = ["iam:PassRole"]
    resources = [local.executor_role_arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "executor" {
  count  = local.executor_enabled ? 1 : 0
  name   = "ib-worker-executor"
  role   = aws_iam_role.worker.id
  policy = data.aws_iam_policy_document.executor.json
}
