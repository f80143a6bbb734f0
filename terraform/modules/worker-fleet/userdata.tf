# The document handed to each instance as user data, read by the AMI's
# first-boot script. It names things (composer, secrets, bucket, group) and
# never carries a secret: the script fetches the secrets' values with the
# instance role. This file uses variables only, so terraform/tests/t_invariants
# can render it with `terraform console` without any provider.

locals {
  log_group_name = "/ib-worker/${var.name}"
  hook_name      = "${var.name}-drain"

  # The aws.ec2 executor (executor.tf): builds on throwaway instances.
  executor_agent_port = 8701 # ib-agent's default port
  executor_subnet_id  = coalesce(var.executor_subnet_id, var.subnet_ids[0])

  user_data_document = {
    version = 1
    composer = {
      address   = var.composer_address
      base_path = var.composer_base_path
      oauth_url = var.composer_oauth_url
    }
    # purpose => Secrets Manager secret name or ARN (the value stays in Secrets Manager)
    secret_names = var.secrets
    fleet = {
      name              = var.name
      autoscaling_group = var.name
      lifecycle_hook    = local.hook_name
      log_group         = local.log_group_name
    }
    cache = {
      device = var.cache_volume_device
    }
    aws = {
      bucket = var.image_bucket_name
    }
    # service => endpoint URL (VPC endpoints); {} for the public ones
    endpoints = var.service_endpoints
    # [osbuild_executor] (executor.tf adds security_group and region)
    executor = var.executor_ami == null ? null : {
      type          = "aws.ec2"
      ami           = var.executor_ami
      instance_type = var.executor_instance_type
      subnet_id     = local.executor_subnet_id
      iam_profile   = "${var.name}-executor"
      agent_port    = local.executor_agent_port
    }
  }

  user_data = jsonencode(local.user_data_document)
}
