output "autoscaling_group_name" {
  description = "Name of the worker group, for dashboards and `aws autoscaling` commands."
  value       = module.worker_fleet.autoscaling_group_name
}

output "instance_role_arn" {
  description = "Role of the workers; grant it decrypt on customer-managed keys if the secrets use one."
  value       = module.worker_fleet.instance_role_arn
}

output "log_group_name" {
  description = "Where the workers' logs go."
  value       = module.worker_fleet.log_group_name
}

output "user_data_document" {
  description = "The document each worker boots with (names only)."
  value       = module.worker_fleet.user_data_document
}
