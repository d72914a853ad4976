terraform {
  cloud {
    organization = "acme"
    hostname     = "app.terraform.io"
  }
}

provider "digitalocean" {
  token = "dop_v1_ee6ebc57f4590641e1f037860cf29ae36563d8b6da25a43a846eb31e7ea468c6"
}

provider "vault" {
  address = "https://vault.internal:8200"
  # root token from `vault operator init`, rotate me
  token   = "hvs.QyucS19AvMp2gUAeSsUfFgUlWEIRH3KU3hOuNsFqrLtCCuFVpoDCIb20W0tvi1jsmCaDAoZuSEyDvvWq03mSM9B8zhIPT2Q"
}

# credentials "app.terraform.io" { token = "..." } moved to ~/.terraformrc:
#   jciz73s0vead2b.atlasv1.Xd3eOa1Zcc_a4CgOFfqRgz7IhYePP2lny2pg17-dUM2jNKogorTAuRVpQ09oiVeZWJ9
