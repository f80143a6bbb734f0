# The fleet itself: which image, how an instance is launched, the group that
# keeps the right number of them, and the hook that lets a terminating worker
# finish its build.

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

# One lookup for both ways of naming the image, so root_device_name is known
# either way.
data "aws_ami" "worker" {
  most_recent = true
  owners      = var.ami_id != null ? [] : var.ami_filter.owners

  dynamic "filter" {
    for_each = var.ami_id != null ? { "image-id" = var.ami_id } : { "name" = var.ami_filter.name_pattern }
    content {
      name   = filter.key
      values = [filter.value]
    }
  }

  dynamic "filter" {
    for_each = var.ami_id != null ? {} : var.ami_filter.tags
    content {
      name   = "tag:${filter.key}"
      values = [filter.value]
    }
  }

  filter {
    name   = "state"
    values = ["available"]
  }

  # The image of the instances' architecture only (the worker image is
  # built per architecture: make ami ARCH=aarch64 for Graviton).
  filter {
    name   = "architecture"
    values = [local.architecture]
  }

  lifecycle {
    precondition {
      condition     = length(distinct([for t in var.instance_types : local.type_arch[t]])) == 1
      error_message = "instance_types mixes Graviton (arm64) and x86_64 types; one group boots one image: run one module instance per architecture."
    }
    precondition {
      condition     = var.architecture == null || alltrue([for t in var.instance_types : local.type_arch[t] == var.architecture])
      error_message = "architecture does not match the instance_types."
    }
  }
}

# Graviton types: a1 and every family with a g after its generation (m7g,
# c6gn, r6gd, t4g, im4gn, ...); the rest are x86_64.
locals {
  type_arch    = { for t in var.instance_types : t => can(regex("^(a1|[a-z]+[0-9]+g[a-z]*)\\.", t)) ? "arm64" : "x86_64" }
  architecture = var.architecture != null ? var.architecture : local.type_arch[var.instance_types[0]]
}

locals {
  region     = data.aws_region.current.name
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  queue_name = coalesce(var.queue_name, var.name)

  tags = merge(var.tags, {
    Project = "ib-worker"
    Fleet   = var.name
  })
}

resource "aws_launch_template" "worker" {
  name_prefix            = "${var.name}-"
  description            = "ib-worker fleet ${var.name}"
  image_id               = data.aws_ami.worker.id
  update_default_version = true
  vpc_security_group_ids = var.security_group_ids
  user_data              = base64encode(local.user_data_launch)

  iam_instance_profile {
    arn = aws_iam_instance_profile.worker.arn
  }

  # IMDSv2 only: every metadata read needs a session token obtained by PUT,
  # and the token does not travel further than imds_hop_limit hops.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = var.imds_hop_limit
    instance_metadata_tags      = "disabled"
  }

  block_device_mappings {
    device_name = data.aws_ami.worker.root_device_name
    ebs {
      volume_size           = var.root_volume_size_gb
      volume_type           = "gp3"
      encrypted             = true
      kms_key_id            = var.ebs_kms_key_arn
      delete_on_termination = true
    }
  }

  # The cache: osbuild store, rpmmd cache and build output. Stateless
  # workers lose it with the instance, by design.
  block_device_mappings {
    device_name = var.cache_volume_device
    ebs {
      volume_size           = var.cache_volume_size_gb
      volume_type           = "gp3"
      encrypted             = true
      kms_key_id            = var.ebs_kms_key_arn
      delete_on_termination = true
    }
  }

  monitoring {
    enabled = false
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(local.tags, { Name = var.name })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(local.tags, { Name = var.name })
  }

  tags = local.tags
}

resource "aws_autoscaling_group" "worker" {
  name                      = var.name
  vpc_zone_identifier       = var.subnet_ids
  min_size                  = var.min_size
  max_size                  = var.max_size
  desired_capacity          = var.desired_capacity
  health_check_type         = "EC2"
  health_check_grace_period = var.health_check_grace_period
  default_instance_warmup   = var.instance_warmup_seconds
  max_instance_lifetime     = var.max_instance_lifetime_seconds
  capacity_rebalance        = var.spot.enabled
  # Not here: each worker protects its own instance while it runs a build.
  protect_from_scale_in = false
  termination_policies  = ["OldestLaunchTemplate", "OldestInstance"]
  # The fleet's health is watched through CloudWatch, not by making
  # `terraform apply` wait for instances to boot.
  wait_for_capacity_timeout = "0"

  # Group metrics feed the metric math of the scaling policies.
  metrics_granularity = "1Minute"
  enabled_metrics = [
    "GroupDesiredCapacity",
    "GroupInServiceInstances",
    "GroupPendingInstances",
    "GroupTerminatingInstances",
    "GroupTotalInstances",
    "GroupMinSize",
    "GroupMaxSize",
  ]

  # Always a mixed instances policy, even all on-demand: it is what lets the
  # group fall back across several instance types.
  mixed_instances_policy {
    instances_distribution {
      on_demand_base_capacity                  = var.spot.enabled ? var.spot.on_demand_base_capacity : 0
      on_demand_percentage_above_base_capacity = var.spot.enabled ? var.spot.on_demand_percentage_above_base : 100
      on_demand_allocation_strategy            = "prioritized"
      spot_allocation_strategy                 = var.spot.allocation_strategy
    }

    launch_template {
      launch_template_specification {
        launch_template_id = aws_launch_template.worker.id
        # A concrete version, not $Latest: a new template version changes
        # the group, and that starts the instance refresh below.
        version = aws_launch_template.worker.latest_version
      }

      dynamic "override" {
        for_each = var.instance_types
        content {
          instance_type = override.value
        }
      }
    }
  }

  dynamic "warm_pool" {
    for_each = var.warm_pool.enabled ? [var.warm_pool] : []
    content {
      pool_state                  = warm_pool.value.pool_state
      min_size                    = warm_pool.value.min_size
      max_group_prepared_capacity = warm_pool.value.max_group_prepared_capacity
      instance_reuse_policy {
        reuse_on_scale_in = warm_pool.value.reuse_on_scale_in
      }
    }
  }

  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = var.instance_refresh_min_healthy_percentage
      instance_warmup        = var.instance_warmup_seconds
      skip_matching          = true
      # Busy workers are protected from scale-in. "Refresh" still replaces
      # them, but through the termination hook: the worker drains and its
      # build finishes first. "Wait" would fail the refresh after an hour
      # of long builds.
      scale_in_protected_instances = "Refresh"
      standby_instances            = "Terminate"
    }
    triggers = ["tag"]
  }

  dynamic "tag" {
    for_each = merge(local.tags, { Name = var.name })
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  lifecycle {
    # Scaling policies own the desired capacity after creation.
    ignore_changes = [desired_capacity]
  }
}

# A terminating instance waits in Terminating:Wait. The worker sees that
# through IMDSv2 (autoscaling/target-lifecycle-state), stops taking jobs,
# sends RecordLifecycleActionHeartbeat while its build finishes (extending the
# wait, up to 48 h or 100 heartbeat timeouts), then CompleteLifecycleAction
# CONTINUE. If the worker is dead, heartbeat_timeout bounds the delay.
#
# default_result: for a termination hook both results terminate the
# instance; they differ only in whether the group still runs other
# termination hooks. CONTINUE keeps those (log shipping, deregistration...)
# working when our worker never answered.
resource "aws_autoscaling_lifecycle_hook" "drain" {
  name                   = local.hook_name
  autoscaling_group_name = aws_autoscaling_group.worker.name
  lifecycle_transition   = "autoscaling:EC2_INSTANCE_TERMINATING"
  heartbeat_timeout      = var.lifecycle_heartbeat_timeout
  default_result         = var.lifecycle_default_result
}
