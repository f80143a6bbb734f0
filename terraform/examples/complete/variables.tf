variable "region" {
  type        = string
  description = "AWS region of the fleet."
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be a region name such as us-east-1."
  }
}

variable "environment" {
  type        = string
  description = "Deployment stage, used in names and tags."
  default     = "stage"

  validation {
    condition     = contains(["dev", "stage", "prod"], var.environment)
    error_message = "environment must be dev, stage or prod."
  }
}

variable "vpc_id" {
  type        = string
  description = "VPC the workers run in."

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123456789abcdef0."
  }
}

variable "private_subnet_ids" {
  type        = list(string)
  description = "Private subnets of that VPC, one per availability zone, with a NAT gateway or VPC endpoints."

  validation {
    condition     = length(var.private_subnet_ids) >= 2
    error_message = "Give at least two subnets so the fleet survives the loss of a zone."
  }
}

variable "composer_address" {
  type        = string
  description = "host:port of the composer's worker API."
  default     = "composer.stage.example.com:443"
}

variable "composer_oauth_url" {
  type        = string
  description = "Token endpoint the workers get OAuth2 access tokens from with the client credentials."
  default     = "https://sso.example.com/auth/realms/image-builder/protocol/openid-connect/token"
}

variable "image_bucket_name" {
  type        = string
  description = "Name of the bucket the module creates for image uploads (globally unique)."
}
