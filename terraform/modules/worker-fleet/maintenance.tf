# The retention clean-up (ib-maintenance) for the images this fleet
# registers. It runs where the backlog publisher (ib-backlog) runs, on the
# composer's side: the worker package installs ib-maintenance.timer there,
# which runs it daily once /etc/ib-maintenance/ib-maintenance.env exists.
# The module renders that file (output maintenance_env) and grants the
# host's role the calls, the deletes limited to images and snapshots whose
# Name tag starts with the fleet's prefix (maintenance_iam.tf).
# This file uses variables and locals only, so terraform/tests can render it
# with `terraform console` without any provider.

variable "maintenance" {
  description = "Retention clean-up of the fleet's AMIs, run by ib-maintenance.timer on the backlog publisher's host: host_role_name is that host's IAM role (the module adds an inline policy to it), name_prefix the start of the fleet's image names (the org.osbuild.aws target tags each AMI and snapshot Name = the image name; only those are deleted). null: off."
  type = object({
    host_role_name = string
    name_prefix    = string
    retention_days = optional(number, 14)
    limit          = optional(number, 100)
    dry_run        = optional(bool, false)
  })
  default = null

  validation {
    condition     = var.maintenance == null ? true : can(regex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", var.maintenance.name_prefix))
    error_message = "maintenance.name_prefix must be 1-64 of A-Z, a-z, 0-9, '.', '_', '-' (it scopes what may be deleted: it cannot be empty)."
  }
  validation {
    condition     = var.maintenance == null ? true : can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.maintenance.host_role_name))
    error_message = "maintenance.host_role_name must be an IAM role name (not an ARN)."
  }
  validation {
    condition     = var.maintenance == null ? true : (var.maintenance.retention_days >= 1 && var.maintenance.retention_days <= 3650 && floor(var.maintenance.retention_days) == var.maintenance.retention_days)
    error_message = "maintenance.retention_days must be a whole number of days from 1 to 3650."
  }
  validation {
    condition     = var.maintenance == null ? true : (var.maintenance.limit >= 1 && var.maintenance.limit <= 10000 && floor(var.maintenance.limit) == var.maintenance.limit)
    error_message = "maintenance.limit must be a whole number from 1 to 10000."
  }
}

locals {
  # The fleet registers images in the image regions only: those are the
  # regions cleaned, and the only ones the policy allows.
  maintenance_args = var.maintenance == null ? [] : concat(
    ["--aws", "--retention-days", tostring(var.maintenance.retention_days),
    "--limit", tostring(var.maintenance.limit), "--name-prefix", var.maintenance.name_prefix],
    flatten([for r in local.image_regions : ["--aws-region", r]]),
    var.maintenance.dry_run ? ["--dry-run"] : [],
  )

  # /etc/ib-maintenance/ib-maintenance.env on the publisher's host.
  maintenance_env = var.maintenance == null ? null : join("", [
    "IB_MAINTENANCE_ARGS=${join(" ", local.maintenance_args)}\n",
    "AWS_REGION=${local.region}\n",
  ])
}
