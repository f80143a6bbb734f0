# Inputs of the worker fleet. Every variable is typed and described; the
# scaling defaults are the ones terraform/sim/fleet_sim.py reads and that
# terraform/README.md justifies with the simulation's figures.

# --- Identity ---------------------------------------------------------------

variable "name" {
  type        = string
  description = "Name of the fleet: the Auto Scaling group, IAM role, log group and alarms are named after it. The group's name is fixed (no random suffix) because the workers read it from their user data."
  default     = "ib-worker"

  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9-]{0,31}$", var.name))
    error_message = "name must start with a letter and hold at most 32 letters, digits or dashes."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource the module creates, and propagated to the instances and their volumes."
  default     = {}
}

# --- Image and instances ----------------------------------------------------

variable "ami_id" {
  type        = string
  description = "AMI to boot, by id. When null the newest AMI matching ami_filter is used."
  default     = null

  validation {
    condition     = var.ami_id == null || can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must be null or look like ami-0123456789abcdef0."
  }
}

variable "ami_filter" {
  type = object({
    owners       = list(string)
    name_pattern = string
    tags         = map(string)
  })
  description = "How to find the worker AMI when ami_id is null: owner accounts (or \"self\"), a name pattern and tags that must all match. The newest match wins."
  default = {
    owners       = ["self"]
    name_pattern = "ib-worker-*"
    tags         = { Project = "ib-worker" }
  }

  validation {
    condition     = length(var.ami_filter.owners) > 0 && length(var.ami_filter.name_pattern) > 0
    error_message = "ami_filter needs at least one owner and a non-empty name_pattern."
  }
}

variable "instance_types" {
  type        = list(string)
  description = "Instance types the group may launch, in order of preference for on-demand capacity. More than one type widens the spot pools and survives a type running short in a zone."
  default     = ["m6i.xlarge", "m6a.xlarge", "m5.xlarge"]

  validation {
    condition     = length(var.instance_types) > 0 && alltrue([for t in var.instance_types : can(regex("^[a-z][a-z0-9-]*[0-9][a-z0-9-]*\\.[a-z0-9]+$", t))])
    error_message = "instance_types must hold at least one type such as m6i.xlarge."
  }
}

variable "architecture" {
  type        = string
  description = "CPU architecture of the workers and of the AMI looked up: x86_64 or arm64 (Graviton). Null: derived from instance_types, which must then all be of one architecture (a mixed fleet is one module instance per architecture)."
  default     = null

  validation {
    condition     = var.architecture == null || contains(["x86_64", "arm64"], coalesce(var.architecture, "x86_64"))
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets (preferably one per availability zone) the instances are launched in. They need a route to the composer, S3, EC2, Secrets Manager and CloudWatch (NAT or VPC endpoints)."

  validation {
    condition     = length(var.subnet_ids) > 0 && alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "subnet_ids must hold at least one subnet id (subnet-...)."
  }
}

variable "security_group_ids" {
  type        = list(string)
  description = "Security groups of the instances. Workers only connect out; they need no inbound rule."
  default     = []

  validation {
    condition     = alltrue([for s in var.security_group_ids : can(regex("^sg-[0-9a-f]{8,17}$", s))])
    error_message = "security_group_ids must be security group ids (sg-...)."
  }
}

variable "root_volume_size_gb" {
  type        = number
  description = "Size of the encrypted root volume in GiB. It holds the OS only; builds use the cache volume."
  default     = 20

  validation {
    condition     = var.root_volume_size_gb >= 8 && var.root_volume_size_gb <= 1024
    error_message = "root_volume_size_gb must be between 8 and 1024."
  }
}

variable "cache_volume_size_gb" {
  type        = number
  description = "Size in GiB of the encrypted gp3 volume mounted as the worker's cache (osbuild store, rpmmd cache, build output). An image build needs several times the image size at once."
  default     = 100

  validation {
    condition     = var.cache_volume_size_gb >= 20 && var.cache_volume_size_gb <= 16384
    error_message = "cache_volume_size_gb must be between 20 and 16384."
  }
}

variable "cache_volume_device" {
  type        = string
  description = "Device name the cache volume is attached as. The first-boot script finds it under this name (on Nitro instances through the NVMe device's EBS name)."
  default     = "/dev/sdf"

  validation {
    condition     = can(regex("^/dev/(sd|xvd)[b-z]$", var.cache_volume_device))
    error_message = "cache_volume_device must be /dev/sd[b-z] or /dev/xvd[b-z]."
  }
}

variable "ebs_kms_key_arn" {
  type        = string
  description = "KMS key for the root and cache volumes. Null uses the account's default EBS key; the volumes are encrypted either way."
  default     = null

  validation {
    condition     = var.ebs_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/", var.ebs_kms_key_arn))
    error_message = "ebs_kms_key_arn must be null or a KMS key ARN."
  }
}

variable "imds_hop_limit" {
  type        = number
  description = "PUT response hop limit of the IMDSv2 token. 1 keeps the token away from anything one network hop away (containers in their own network namespace); the worker runs on the host."
  default     = 1

  validation {
    condition     = var.imds_hop_limit >= 1 && var.imds_hop_limit <= 3
    error_message = "imds_hop_limit must be 1, 2 or 3."
  }
}

# --- Group sizing and replacement --------------------------------------------

variable "min_size" {
  type        = number
  description = "Fewest instances. 0 lets the fleet sleep when the queue is empty; the scale-from-zero alarm wakes it."
  default     = 0

  validation {
    condition     = var.min_size >= 0 && floor(var.min_size) == var.min_size
    error_message = "min_size must be a whole number >= 0."
  }
}

variable "max_size" {
  type        = number
  description = "Most instances. Bounds the cost of a burst. Above 20, builds that end in an AWS import can queue behind the region's quota of 20 concurrent snapshot imports (shared with anything else in the account)."
  default     = 30

  validation {
    condition     = var.max_size >= 1 && var.max_size <= 1000 && floor(var.max_size) == var.max_size
    error_message = "max_size must be a whole number between 1 and 1000."
  }
}

variable "desired_capacity" {
  type        = number
  description = "Capacity at creation only; afterwards the scaling policies own it (Terraform ignores later changes). Null starts at min_size."
  default     = null

  validation {
    condition     = var.desired_capacity == null || try(var.desired_capacity >= 0, false)
    error_message = "desired_capacity must be null or >= 0."
  }
}

variable "health_check_grace_period" {
  type        = number
  description = "Seconds after launch before a failing EC2 status check makes the group replace the instance. Covers boot and the first-boot script."
  default     = 300

  validation {
    condition     = var.health_check_grace_period >= 0 && var.health_check_grace_period <= 7200
    error_message = "health_check_grace_period must be between 0 and 7200 seconds."
  }
}

variable "instance_warmup_seconds" {
  type        = number
  description = "Seconds from launch until a new worker polls the composer (boot, first-boot script, worker start). Used as the group's default instance warm-up, the scaling policies' estimated warm-up and the instance refresh warm-up."
  default     = 180

  validation {
    condition     = var.instance_warmup_seconds >= 0 && var.instance_warmup_seconds <= 3600
    error_message = "instance_warmup_seconds must be between 0 and 3600."
  }
}

variable "max_instance_lifetime_seconds" {
  type        = number
  description = "Instances older than this are replaced (scale-in protected, i.e. busy, ones wait). 0 disables; otherwise at least one day. Keeps the fleet on the latest AMI and bounds cache drift."
  default     = 604800

  validation {
    condition     = var.max_instance_lifetime_seconds == 0 || (var.max_instance_lifetime_seconds >= 86400 && var.max_instance_lifetime_seconds <= 31536000)
    error_message = "max_instance_lifetime_seconds must be 0 or between 86400 and 31536000."
  }
}

variable "instance_refresh_min_healthy_percentage" {
  type        = number
  description = "Share of the group that must stay in service while an instance refresh (started by any launch template change) replaces instances."
  default     = 50

  validation {
    condition     = var.instance_refresh_min_healthy_percentage >= 0 && var.instance_refresh_min_healthy_percentage <= 100
    error_message = "instance_refresh_min_healthy_percentage must be between 0 and 100."
  }
}

variable "spot" {
  type = object({
    enabled                         = bool
    on_demand_base_capacity         = optional(number, 1)
    on_demand_percentage_above_base = optional(number, 0)
    allocation_strategy             = optional(string, "price-capacity-optimized")
  })
  description = "Spot capacity. When enabled, on_demand_base_capacity instances stay on-demand and on_demand_percentage_above_base percent of the rest; capacity rebalancing is turned on. A spot interruption gives two minutes' notice, which a build cannot finish in: the composer retries the job."
  default     = { enabled = false }

  validation {
    condition = (
      var.spot.on_demand_base_capacity >= 0 &&
      var.spot.on_demand_percentage_above_base >= 0 && var.spot.on_demand_percentage_above_base <= 100 &&
      contains(["price-capacity-optimized", "capacity-optimized", "lowest-price"], var.spot.allocation_strategy)
    )
    error_message = "spot: on_demand_base_capacity >= 0, on_demand_percentage_above_base 0..100, allocation_strategy one of price-capacity-optimized, capacity-optimized, lowest-price."
  }
}

variable "warm_pool" {
  type = object({
    enabled                     = bool
    min_size                    = optional(number, 0)
    max_group_prepared_capacity = optional(number)
    pool_state                  = optional(string, "Stopped")
    reuse_on_scale_in           = optional(bool, false)
  })
  description = "Warm pool of pre-booted, stopped instances that start in about a minute instead of a cold boot. The first-boot script must not start the worker while the instance's target lifecycle state is Warmed:*."
  default     = { enabled = false }

  validation {
    condition     = var.warm_pool.min_size >= 0 && contains(["Stopped", "Running", "Hibernated"], var.warm_pool.pool_state)
    error_message = "warm_pool: min_size >= 0 and pool_state one of Stopped, Running, Hibernated."
  }
}

# --- Draining ---------------------------------------------------------------

variable "lifecycle_heartbeat_timeout" {
  type        = number
  description = "Seconds a terminating instance may wait in Terminating:Wait without a heartbeat. The worker heartbeats while its job finishes, so this only bounds how long a dead worker delays termination; it is also longer than a typical build so that a build finishes even if heartbeats fail."
  default     = 3600

  validation {
    condition     = var.lifecycle_heartbeat_timeout >= 30 && var.lifecycle_heartbeat_timeout <= 7200
    error_message = "lifecycle_heartbeat_timeout must be between 30 and 7200 seconds (AWS limits)."
  }
}

variable "lifecycle_default_result" {
  type        = string
  description = "Result applied when the termination hook times out. The instance terminates either way; CONTINUE lets any other termination hook still run, ABANDON skips them."
  default     = "CONTINUE"

  validation {
    condition     = contains(["CONTINUE", "ABANDON"], var.lifecycle_default_result)
    error_message = "lifecycle_default_result must be CONTINUE or ABANDON."
  }
}

# --- Scaling on demand ------------------------------------------------------

variable "backlog_per_instance_target" {
  type        = number
  description = "Target of the target-tracking policy: pending (queued, not yet running) jobs per in-service instance. Lower means shorter queue waits and more instance-hours; see terraform/README.md."
  default     = 0.25

  validation {
    condition     = var.backlog_per_instance_target > 0 && var.backlog_per_instance_target <= 100
    error_message = "backlog_per_instance_target must be > 0 and <= 100."
  }
}

variable "scale_from_zero_capacity" {
  type        = number
  description = "Capacity the scale-from-zero policy sets when jobs are pending and the group's desired capacity is 0 (backlog per instance is undefined then, so target tracking cannot act)."
  default     = 2

  validation {
    condition     = var.scale_from_zero_capacity >= 1 && floor(var.scale_from_zero_capacity) == var.scale_from_zero_capacity
    error_message = "scale_from_zero_capacity must be a whole number >= 1."
  }
}

variable "metric_namespace" {
  type        = string
  description = "CloudWatch namespace the composer-side publisher puts PendingJobs and RunningJobs into."
  default     = "ImageBuilder/Workers"

  validation {
    condition     = can(regex("^[A-Za-z0-9/_.#:-]{1,255}$", var.metric_namespace)) && !startswith(var.metric_namespace, "AWS/")
    error_message = "metric_namespace must be 1-255 characters of letters, digits and / _ . # : - and not start with AWS/."
  }
}

variable "metric_dimension_name" {
  type        = string
  description = "Name of the dimension that tells the publisher's metrics of one queue/fleet from another."
  default     = "Queue"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{1,255}$", var.metric_dimension_name))
    error_message = "metric_dimension_name must be 1-255 letters, digits, _ . or -."
  }
}

variable "queue_name" {
  type        = string
  description = "Value of that dimension for this fleet's queue. Null uses the fleet's name."
  default     = null

  validation {
    condition     = var.queue_name == null || can(regex("^[A-Za-z0-9_.:/-]{1,255}$", var.queue_name))
    error_message = "queue_name must be null or 1-255 letters, digits, _ . : / or -."
  }
}

# --- What the worker is told at boot -----------------------------------------

variable "composer_address" {
  type        = string
  description = "Composer the workers poll, as host or host:port, reached over https (mTLS or OAuth); an explicit http://host[:port] is for tests or a composer reached through a trusted private link. Written into the user data."

  validation {
    condition     = can(regex("^(https?://)?[A-Za-z0-9]([A-Za-z0-9.-]{0,252})(:[0-9]{1,5})?$", var.composer_address))
    error_message = "composer_address must be a host name or address, optionally with :port, optionally after http:// (tests, trusted private links) or https:// (the default), without path."
  }
}

variable "composer_base_path" {
  type        = string
  description = "Base path of the composer's worker API."
  default     = "/api/image-builder-worker/v1"

  validation {
    condition     = can(regex("^/[A-Za-z0-9/_.-]*$", var.composer_base_path))
    error_message = "composer_base_path must be an absolute URL path."
  }
}

variable "composer_oauth_url" {
  type        = string
  description = "Token endpoint the workers get OAuth2 access tokens from (with the client_secret or offline_token secret). Null when the composer needs no token (mutual TLS only)."
  default     = null

  validation {
    condition     = var.composer_oauth_url == null || can(regex("^https://[A-Za-z0-9][A-Za-z0-9.-]*(:[0-9]{1,5})?(/[A-Za-z0-9/_.~%-]*)?$", var.composer_oauth_url))
    error_message = "composer_oauth_url must be an https URL without query or fragment."
  }
}

variable "secrets" {
  type        = map(string)
  description = "Secrets Manager secrets the worker fetches at boot, by purpose (e.g. client_secret, offline_token, gcp_credentials): each value is the secret's NAME or full ARN, never the secret itself. Only these secrets are readable by the instance role."
  default     = {}

  validation {
    condition = alltrue([
      for k, v in var.secrets :
      can(regex("^[a-z][a-z0-9_]{0,63}$", k)) &&
      (can(regex("^[A-Za-z0-9/_+=.@-]{1,256}$", v)) || can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]{1,256}$", v))) &&
      !startswith(v, "-----BEGIN")
    ])
    error_message = "secrets keys must be lower_snake_case purposes and values secret names or Secrets Manager ARNs."
  }
}

variable "secrets_kms_key_arns" {
  type        = list(string)
  description = "Customer-managed KMS keys the secrets are encrypted with, if any; the role may decrypt with them only through Secrets Manager."
  default     = []

  validation {
    condition     = alltrue([for k in var.secrets_kms_key_arns : can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/", k))])
    error_message = "secrets_kms_key_arns must be KMS key ARNs."
  }
}

variable "service_endpoints" {
  type        = map(string)
  description = "AWS endpoints the workers call instead of the region's public ones, by service: secretsmanager, autoscaling, logs, ec2, s3, sts (e.g. VPC interface endpoints). Each an https://host[:port][/path] URL without user info, query or fragment (http:// only for tests). Written into the user data; first boot uses secretsmanager and autoscaling itself and passes the others to the worker and the log shipper."
  default     = {}

  validation {
    condition = alltrue([
      for k, v in var.service_endpoints :
      contains(["secretsmanager", "autoscaling", "logs", "ec2", "s3", "sts"], k) &&
      can(regex("^https?://[A-Za-z0-9]([A-Za-z0-9.-]{0,252})(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]{0,200})?$", v))
    ])
    error_message = "service_endpoints keys must be secretsmanager, autoscaling, logs, ec2, s3 or sts, and values http(s)://host[:port][/path] URLs without user info, query or fragment."
  }
}

# --- Image upload and import ------------------------------------------------

variable "image_bucket_name" {
  type        = string
  description = "S3 bucket the workers upload images to before importing them. The role may put, get and delete objects in this bucket only."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.image_bucket_name))
    error_message = "image_bucket_name must be a valid S3 bucket name."
  }
}

variable "create_image_bucket" {
  type        = bool
  description = "Create the image bucket (private, encrypted, objects expiring) instead of using an existing one."
  default     = true
}

variable "image_object_expiration_days" {
  type        = number
  description = "Days after which uploaded objects in a created bucket expire. Uploads are only needed until the import finishes."
  default     = 3

  validation {
    condition     = var.image_object_expiration_days >= 1 && var.image_object_expiration_days <= 365
    error_message = "image_object_expiration_days must be between 1 and 365."
  }
}

variable "image_regions" {
  type        = list(string)
  description = "Regions the workers may import images into and copy them to. Empty means the fleet's own region only."
  default     = []

  validation {
    condition     = alltrue([for r in var.image_regions : can(regex("^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$", r))])
    error_message = "image_regions must be region names such as eu-west-1."
  }
}

variable "create_vmimport_role" {
  type        = bool
  description = "Create the VM Import/Export service role. There is one per account: set false if another stack already owns it."
  default     = true
}

variable "vmimport_role_name" {
  type        = string
  description = "Name of the VM Import/Export service role; ImportSnapshot looks for \"vmimport\" unless told another name."
  default     = "vmimport"

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.vmimport_role_name))
    error_message = "vmimport_role_name must be a valid IAM role name."
  }
}

# --- Logs -------------------------------------------------------------------

variable "log_retention_days" {
  type        = number
  description = "Days the workers' CloudWatch log group keeps events."
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ...)."
  }
}

variable "executor_ami" {
  type        = string
  description = "AMI of the aws.ec2 osbuild executor (the worker image; it runs ib-agent when its user data says role executor). Set, each build runs on a throwaway instance that holds no credential; null (default) builds on the worker itself."
  default     = null

  validation {
    condition     = var.executor_ami == null || can(regex("^ami-[0-9a-f]{8,17}$", var.executor_ami))
    error_message = "executor_ami must be an AMI id (ami-...)."
  }
}

variable "executor_instance_type" {
  type        = string
  description = "Instance type of the executor's build instances."
  default     = "m6i.large"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.executor_instance_type))
    error_message = "executor_instance_type must be an instance type (family.size)."
  }
}

variable "executor_subnet_id" {
  type        = string
  description = "Subnet of the executor's build instances; null: the first of subnet_ids."
  default     = null

  validation {
    condition     = var.executor_subnet_id == null || can(regex("^subnet-[0-9a-f]{8,17}$", var.executor_subnet_id))
    error_message = "executor_subnet_id must be a subnet id (subnet-...)."
  }
}

variable "executor_source_cidrs" {
  type        = list(string)
  description = "Where the build instances may connect out, on ports 80 and 443, for the manifests' sources the worker's cache does not hold."
  default     = ["0.0.0.0/0"]
}
