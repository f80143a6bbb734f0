# Where the workers write: their log group, and the bucket that images pass
# through on their way to becoming AMIs.

resource "aws_cloudwatch_log_group" "worker" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  tags              = local.tags
}

resource "aws_s3_bucket" "images" {
  count  = var.create_image_bucket ? 1 : 0
  bucket = var.image_bucket_name
  tags   = local.tags
}

resource "aws_s3_bucket_public_access_block" "images" {
  count                   = var.create_image_bucket ? 1 : 0
  bucket                  = aws_s3_bucket.images[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "images" {
  count  = var.create_image_bucket ? 1 : 0
  bucket = aws_s3_bucket.images[0].id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "images" {
  count  = var.create_image_bucket ? 1 : 0
  bucket = aws_s3_bucket.images[0].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

# Uploads are only needed until the import finishes; a worker that died
# mid-job leaves objects and half-done multipart uploads behind.
resource "aws_s3_bucket_lifecycle_configuration" "images" {
  count  = var.create_image_bucket ? 1 : 0
  bucket = aws_s3_bucket.images[0].id
  rule {
    id     = "expire-uploads"
    status = "Enabled"
    filter {}
    expiration {
      days = var.image_object_expiration_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}
