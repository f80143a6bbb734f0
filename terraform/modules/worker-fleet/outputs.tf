output "autoscaling_group_name" {
  description = "Name of the worker Auto Scaling group (also in the user data, for the worker's lifecycle calls)."
  value       = aws_autoscaling_group.worker.name
}

output "autoscaling_group_arn" {
  description = "ARN of the worker Auto Scaling group; the instance role's lifecycle permissions are scoped to it."
  value       = aws_autoscaling_group.worker.arn
}

output "launch_template_id" {
  description = "Id of the workers' launch template."
  value       = aws_launch_template.worker.id
}

output "launch_template_version" {
  description = "Launch template version the group uses; a new one starts an instance refresh."
  value       = aws_launch_template.worker.latest_version
}

output "ami_id" {
  description = "AMI the workers boot, as given or as found by ami_filter."
  value       = data.aws_ami.worker.id
}

output "instance_role_name" {
  description = "Name of the workers' IAM role."
  value       = aws_iam_role.worker.name
}

output "instance_role_arn" {
  description = "ARN of the workers' IAM role, e.g. to add it to a KMS key policy or a bucket policy."
  value       = aws_iam_role.worker.arn
}

output "instance_profile_arn" {
  description = "ARN of the instance profile in the launch template."
  value       = aws_iam_instance_profile.worker.arn
}

output "log_group_name" {
  description = "CloudWatch log group the workers write to."
  value       = aws_cloudwatch_log_group.worker.name
}

output "image_bucket_name" {
  description = "S3 bucket the workers upload images to."
  value       = var.create_image_bucket ? aws_s3_bucket.images[0].id : var.image_bucket_name
}

output "vmimport_role_arn" {
  description = "ARN of the VM Import/Export service role (null when create_vmimport_role is false)."
  value       = var.create_vmimport_role ? aws_iam_role.vmimport[0].arn : null
}

output "lifecycle_hook_name" {
  description = "Name of the termination lifecycle hook the workers complete after draining."
  value       = aws_autoscaling_lifecycle_hook.drain.name
}

output "backlog_policy_arn" {
  description = "ARN of the target-tracking policy on pending jobs per in-service instance."
  value       = aws_autoscaling_policy.backlog.arn
}

output "scale_from_zero_alarm_arn" {
  description = "ARN of the alarm that starts workers when jobs are pending and the desired capacity is 0."
  value       = aws_cloudwatch_metric_alarm.from_zero.arn
}

output "user_data_document" {
  description = "The JSON document given to each instance as user data (names only, no secret values); the first-boot script's input."
  value       = local.user_data
}
