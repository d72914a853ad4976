terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.40"
    }
  }
}

provider "aws" {
  region     = "eu-west-1"
  access_key = "AKIADVITCSDQTELELAWC"
  secret_key = "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"
}

resource "aws_db_instance" "orders" {
  identifier           = "orders-staging"
  engine               = "postgres"
  engine_version       = "16.3"
  instance_class       = "db.t4g.medium"
  allocated_storage    = 50
  username             = "orders_admin"
  password             = "wmyYM%qPEMsGERg3Qhc6"
  skip_final_snapshot  = true
  db_subnet_group_name = aws_db_subnet_group.private.name
}

resource "aws_db_instance" "reporting" {
  identifier          = "reporting-staging"
  engine              = "postgres"
  instance_class      = "db.t4g.small"
  allocated_storage   = 20
  username            = "reporting"
  password            = var.reporting_db_password
  skip_final_snapshot = true
}

resource "datadog_integration_aws" "main" {
  account_id = "123456789012"
  role_name  = "DatadogIntegrationRole"
}

provider "datadog" {
  api_key = "03e65871d0992abdccab556097bff088"
  app_key = "e83ef8197bc1d3f19560981b909b2071a8cc98c7"
}
