# The worker image: one provisioning (the ib-worker package plus ami/,
# applied by ami/provision.sh) for two sources:
#   amazon-ebs.worker  the AMI, built in AWS (credentials from the
#                      environment only: AWS_ACCESS_KEY_ID/... or AWS_PROFILE)
#   qemu.worker        a local qcow2 from a Debian cloud image, offline, TCG
# Written for Packer 1.6.6 (Debian 12): HCL2 without required_plugins, data
# sources or packer init. That amazon-ebs knows neither imds_support nor
# metadata_options, so IMDSv2 is required on the AMI by a post-processor
# (modify-image-attribute --imds-support v2.0) and on the instances by the
# fleet's launch template. packer/build.sh drives it.

variable "git_commit" {
  type        = string
  description = "Commit of the sources the image is built from; tagged on the AMI."
  default     = "unknown"
}

variable "channel" {
  type        = string
  description = "Release channel tagged on the AMI (Channel): dev, stage or prod, the stages of terraform/examples/complete, whose ami_filter asks for Channel = its environment."
  default     = "dev"

  validation {
    condition     = contains(["dev", "stage", "prod"], var.channel)
    error_message = "The channel must be dev, stage or prod."
  }
}

variable "package_dir" {
  type        = string
  description = "Folder holding the built ib-worker .deb (make deb) or .rpm (make rpm)."
  default     = "build/pkg"
}

variable "aws_region" {
  type        = string
  description = "Region the AMI is built and registered in."
  default     = "us-east-1"
}

variable "arch" {
  type        = string
  description = "EC2 architecture of the AMI: x86_64 or arm64 (Graviton; make ami ARCH=aarch64). It picks Debian's source AMI and the build instance's type unless those are given."
  default     = "x86_64"
  validation {
    condition     = contains(["x86_64", "arm64"], var.arch)
    error_message = "The arch must be x86_64 or arm64."
  }
}

variable "instance_type" {
  type        = string
  description = "Instance type of the temporary build instance (default: t3.small, t4g.small for arm64)."
  default     = ""
}

variable "source_ami_name" {
  type        = string
  description = "Name pattern of the source AMI (default: Debian 12 of the arch, debian-12-amd64-* or debian-12-arm64-*)."
  default     = ""
}

variable "source_ami_owner" {
  type        = string
  description = "Account owning the source AMI (Debian's by default)."
  default     = "136693071363"
}

variable "ssh_username" {
  type        = string
  description = "Login user of the source image."
  default     = "admin"
}

variable "ami_users" {
  type        = list(string)
  description = "Other AWS accounts allowed to launch the AMI."
  default     = []
}

variable "volume_size" {
  type        = number
  description = "Root volume size of the AMI in GiB (the build cache lives there)."
  default     = 40
}

variable "qemu_base_image" {
  type        = string
  description = "Local Debian 12 generic cloud qcow2 the qemu source starts from."
  default     = "build/images/debian-12-generic-amd64.qcow2"
}

variable "qemu_seed_iso" {
  type        = string
  description = "cloud-init NoCloud seed (cloud-localds) that lets Packer log in."
  default     = "build/images/seed.iso"
}

variable "qemu_ssh_key" {
  type        = string
  description = "Private key matching the public key in the seed."
  default     = "build/images/packer_key"
}

variable "output_dir" {
  type        = string
  description = "Where the qemu source writes its image."
  default     = "build/images/packer-qemu"
}

locals {
  stamp = formatdate("YYYYMMDDhhmmss", timestamp())
  # Debian names its AMIs by dpkg architecture.
  deb_arch        = var.arch == "arm64" ? "arm64" : "amd64"
  source_ami_name = var.source_ami_name != "" ? var.source_ami_name : "debian-12-${local.deb_arch}-*"
  instance_type   = var.instance_type != "" ? var.instance_type : (var.arch == "arm64" ? "t4g.small" : "t3.small")
  # Project and Channel are what the fleet module's ami_filter looks for
  # (terraform/tests/t_chain checks they agree).
  tags = {
    Name       = "ib-worker"
    Project    = "ib-worker"
    Channel    = var.channel
    GitCommit  = var.git_commit
    BuiltBy    = "packer"
    SourceName = local.source_ami_name
    Arch       = var.arch
  }
}

source "amazon-ebs" "worker" {
  region        = var.aws_region
  instance_type = local.instance_type
  ssh_username  = var.ssh_username
  ami_name      = "ib-worker-${var.git_commit}-${local.stamp}"
  ami_users     = var.ami_users
  ena_support   = true
  sriov_support = true
  encrypt_boot  = false

  source_ami_filter {
    filters = {
      name                = local.source_ami_name
      architecture        = var.arch
      root-device-type    = "ebs"
      virtualization-type = "hvm"
    }
    owners      = [var.source_ami_owner]
    most_recent = true
  }

  launch_block_device_mappings {
    device_name           = "/dev/xvda"
    volume_size           = var.volume_size
    volume_type           = "gp3"
    iops                  = 3000
    throughput            = 125
    delete_on_termination = true
  }

  tags            = local.tags
  snapshot_tags   = local.tags
  run_tags        = local.tags
  run_volume_tags = local.tags
}

source "qemu" "worker" {
  accelerator      = "tcg"
  disk_image       = true
  iso_url          = var.qemu_base_image
  iso_checksum     = "none"
  use_backing_file = false
  format           = "qcow2"
  disk_size        = "4G"
  disk_compression = true
  output_directory = var.output_dir
  vm_name          = "worker.qcow2"
  headless         = true
  memory           = 2048
  cpus             = 2
  net_device       = "virtio-net"
  disk_interface   = "virtio"
  qemuargs = [
    ["-drive", "file=${var.qemu_seed_iso},media=cdrom,readonly=on"],
    ["-serial", "file:${var.output_dir}-serial.log"],
  ]
  ssh_username         = var.ssh_username
  ssh_private_key_file = var.qemu_ssh_key
  ssh_timeout          = "30m"
  shutdown_command     = "sudo poweroff"
}

build {
  sources = ["source.amazon-ebs.worker", "source.qemu.worker"]

  provisioner "shell" {
    inline = ["mkdir -p /tmp/ib-worker/pkg /tmp/ib-worker/ami"]
  }

  provisioner "file" {
    source      = "${var.package_dir}/"
    destination = "/tmp/ib-worker/pkg"
  }

  provisioner "file" {
    source      = "ami/"
    destination = "/tmp/ib-worker/ami"
  }

  provisioner "shell" {
    inline = ["sudo sh /tmp/ib-worker/ami/provision.sh /tmp/ib-worker/pkg"]
  }

  # One chain, in order: the manifest first, then (AMI only) the step that
  # reads the AMI id from it. Packer 1.6.6 cannot ask for IMDSv2-only on
  # the AMI itself.
  post-processors {
    post-processor "manifest" {
      output     = "build/packer-manifest.json"
      strip_path = true
      custom_data = {
        git_commit = var.git_commit
      }
    }

    post-processor "shell-local" {
      only = ["amazon-ebs.worker"]
      environment_vars = [
        "AWS_REGION=${var.aws_region}",
        "MANIFEST=build/packer-manifest.json",
      ]
      script = "packer/require-imdsv2.sh"
    }
  }
}
