# A realistic fleet: several instance types with some spot capacity, a small
# warm pool, workers that read three secrets by name, and an egress-only
# security group.

resource "aws_security_group" "worker" {
  name_prefix = "ib-worker-${var.environment}-"
  description = "ib-worker instances: outbound only"
  vpc_id      = var.vpc_id

  egress {
    description = "HTTPS to the composer, AWS APIs and package mirrors"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }

  lifecycle {
    create_before_destroy = true
  }
}

module "worker_fleet" {
  source = "../../modules/worker-fleet"

  name               = "ib-worker-${var.environment}"
  subnet_ids         = var.private_subnet_ids
  security_group_ids = [aws_security_group.worker.id]

  # Newest image baked by packer/, found by tag.
  ami_filter = {
    owners       = ["self"]
    name_pattern = "ib-worker-*"
    tags         = { Project = "ib-worker", Channel = var.environment }
  }
  instance_types       = ["m6i.2xlarge", "m6a.2xlarge", "m5.2xlarge", "m7i.2xlarge"]
  cache_volume_size_gb = 200

  min_size                    = 0
  max_size                    = 30
  backlog_per_instance_target = 0.25
  scale_from_zero_capacity    = 2
  instance_warmup_seconds     = 180

  spot = {
    enabled                         = true
    on_demand_base_capacity         = 2
    on_demand_percentage_above_base = 50
  }
  warm_pool = {
    enabled  = true
    min_size = 2
  }

  composer_address   = var.composer_address
  composer_base_path = "/api/image-builder-worker/v1"
  composer_oauth_url = var.composer_oauth_url
  secrets = {
    client_id       = "ib-worker/${var.environment}/oauth-client-id"
    client_secret   = "ib-worker/${var.environment}/oauth-client-secret"
    gcp_credentials = "ib-worker/${var.environment}/gcp-service-account"
  }

  metric_namespace      = "ImageBuilder/Workers"
  metric_dimension_name = "Queue"
  queue_name            = "ib-worker-${var.environment}"

  image_bucket_name = var.image_bucket_name
  image_regions     = [var.region, "us-east-2", "us-west-2"]

  log_retention_days = 30
  tags               = { Team = "image-builder" }
}
