terraform {
  # optional() object attributes need 1.3; 1.5 is the floor we test the syntax against.
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.x: instance_refresh.preferences.scale_in_protected_instances and
      # target tracking with metric math (customized_metric_specification.metrics).
      version = "~> 5.0"
    }
  }
}
