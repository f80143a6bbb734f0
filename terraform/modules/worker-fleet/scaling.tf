# Scaling on demand. The composer-side publisher puts PendingJobs and
# RunningJobs (one dimension per queue) into CloudWatch every minute.
#
# 1. Target tracking on backlog per instance = PendingJobs / in-service
#    instances (metric math), aiming at backlog_per_instance_target.
# 2. That quotient is undefined while no instance is in service, so a
#    target-tracking policy alone never leaves zero. A step policy, fired by
#    an alarm on "jobs pending while desired capacity is 0", sets the group
#    to scale_from_zero_capacity; target tracking takes over once those
#    instances are in service.

resource "aws_autoscaling_policy" "backlog" {
  name                      = "${var.name}-backlog-per-instance"
  autoscaling_group_name    = aws_autoscaling_group.worker.name
  policy_type               = "TargetTrackingScaling"
  estimated_instance_warmup = var.instance_warmup_seconds

  target_tracking_configuration {
    target_value     = var.backlog_per_instance_target
    disable_scale_in = false

    customized_metric_specification {
      metrics {
        id          = "pending"
        label       = "Jobs waiting in the queue"
        return_data = false
        metric_stat {
          stat = "Average"
          metric {
            namespace   = var.metric_namespace
            metric_name = "PendingJobs"
            dimensions {
              name  = var.metric_dimension_name
              value = local.queue_name
            }
          }
        }
      }

      metrics {
        id          = "in_service"
        label       = "Workers in service"
        return_data = false
        metric_stat {
          stat = "Average"
          metric {
            namespace   = "AWS/AutoScaling"
            metric_name = "GroupInServiceInstances"
            dimensions {
              name  = "AutoScalingGroupName"
              value = aws_autoscaling_group.worker.name
            }
          }
        }
      }

      metrics {
        id          = "backlog_per_instance"
        label       = "Pending jobs per in-service worker"
        expression  = "pending / in_service"
        return_data = true
      }
    }
  }
}

resource "aws_autoscaling_policy" "from_zero" {
  name                   = "${var.name}-scale-from-zero"
  autoscaling_group_name = aws_autoscaling_group.worker.name
  policy_type            = "StepScaling"
  adjustment_type        = "ExactCapacity"
  # The alarm only fires while desired capacity is 0, so an exact capacity
  # can never shrink a group that is already starting up.
  step_adjustment {
    metric_interval_lower_bound = 0
    scaling_adjustment          = var.scale_from_zero_capacity
  }
  estimated_instance_warmup = var.instance_warmup_seconds
}

resource "aws_cloudwatch_metric_alarm" "from_zero" {
  alarm_name          = "${var.name}-jobs-pending-at-zero"
  alarm_description   = "Jobs are pending for fleet ${var.name} while its desired capacity is 0: start workers."
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 1
  datapoints_to_alarm = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_autoscaling_policy.from_zero.arn]
  tags                = local.tags

  metric_query {
    id          = "pending"
    return_data = false
    metric {
      namespace   = var.metric_namespace
      metric_name = "PendingJobs"
      period      = 60
      stat        = "Maximum"
      dimensions = {
        (var.metric_dimension_name) = local.queue_name
      }
    }
  }

  metric_query {
    id          = "desired"
    return_data = false
    metric {
      namespace   = "AWS/AutoScaling"
      metric_name = "GroupDesiredCapacity"
      period      = 60
      stat        = "Maximum"
      dimensions = {
        AutoScalingGroupName = aws_autoscaling_group.worker.name
      }
    }
  }

  metric_query {
    id          = "wake"
    label       = "Jobs pending while no worker is wanted"
    expression  = "IF(FILL(desired, 0) < 1 AND pending > 0, 1, 0)"
    return_data = true
  }
}
