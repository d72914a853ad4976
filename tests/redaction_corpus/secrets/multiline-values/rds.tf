resource "aws_db_instance" "ledger" {
  engine   = "postgres"
  username = "ledger"
  password = <<-EOT
    8PQiI1p4X7c8yIHIdtwOuI
  EOT
}
