# What ib-maintenance may do with the publisher host's role (maintenance.tf):
# list images in the image regions, and deregister images and delete
# snapshots only when their Name tag starts with the fleet's prefix.

data "aws_iam_policy_document" "maintenance" {
  # Describe* actions have no resource-level permissions in EC2.
  dynamic "statement" {
    for_each = var.maintenance == null ? [] : [1]
    content {
      sid       = "MaintenanceListImages"
      actions   = ["ec2:DescribeImages"]
      resources = ["*"]
      condition {
        test     = "StringEquals"
        variable = "aws:RequestedRegion"
        values   = local.image_regions
      }
    }
  }

  dynamic "statement" {
    for_each = var.maintenance == null ? [] : [1]
    content {
      sid       = "MaintenanceDeregisterFleetImages"
      actions   = ["ec2:DeregisterImage"]
      resources = local.image_arns
      condition {
        test     = "StringLike"
        variable = "ec2:ResourceTag/Name"
        values   = ["${var.maintenance.name_prefix}*"]
      }
    }
  }

  dynamic "statement" {
    for_each = var.maintenance == null ? [] : [1]
    content {
      sid       = "MaintenanceDeleteFleetSnapshots"
      actions   = ["ec2:DeleteSnapshot"]
      resources = local.snapshot_arns
      condition {
        test     = "StringLike"
        variable = "ec2:ResourceTag/Name"
        values   = ["${var.maintenance.name_prefix}*"]
      }
    }
  }
}

resource "aws_iam_role_policy" "maintenance" {
  count  = var.maintenance == null ? 0 : 1
  name   = "${var.name}-maintenance"
  role   = var.maintenance.host_role_name
  policy = data.aws_iam_policy_document.maintenance.json
}

output "maintenance_env" {
  description = "The content of /etc/ib-maintenance/ib-maintenance.env for the backlog publisher's host (ib-maintenance.timer runs ib-maintenance with it daily); null when maintenance is off."
  value       = local.maintenance_env
}
