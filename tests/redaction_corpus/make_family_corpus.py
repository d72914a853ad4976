"""Writes the per-family files of the redaction corpus and their entries in expected.json.

    python tests/redaction_corpus/make_family_corpus.py

Every planted value is a fake: random characters from a seeded generator, in the shape
(prefix, length, alphabet) of gitleaks' rule for the vendor. Rerunning writes the same bytes.
The original, mixed files in secrets/ (and their entries) are kept; each of their entries gets
a family from its kind.
"""

from __future__ import annotations

import base64
import json
import random
import string
from pathlib import Path

HERE = Path(__file__).resolve().parent
rng = random.Random(20240611)
ALNUM = string.ascii_letters + string.digits
HEXL = "0123456789abcdef"


def pick(alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def alnum(n: int) -> str:
    while True:                                # random, with every character class present
        s = pick(ALNUM, n)
        if any(c.islower() for c in s) and any(c.isupper() for c in s) and any(c.isdigit() for c in s):
            return s


def hexs(n: int) -> str:
    return pick(HEXL, n)


def b64(nbytes: int) -> str:
    return base64.b64encode(bytes(rng.getrandbits(8) for _ in range(nbytes))).decode()


def urlsafe(n: int) -> str:
    return pick(ALNUM + "-_", n)


def uuid() -> str:
    h = hexs(32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


# ---- the fakes -------------------------------------------------------------------------------
OPS = "ops_" + base64.b64encode(json.dumps({
    "signInAddress": "acme-corp.1password.com", "userAuth": {"method": "SRPg-4096", "alg": "PBES2g-HS256",
    "iterations": 650000, "salt": b64(16)}, "email": f"{pick(string.ascii_lowercase, 12)}@1passwordserviceaccounts.com",
    "srpX": hexs(64), "muk": {"alg": "A256GCM", "ext": True, "k": urlsafe(43), "key_ops": ["encrypt", "decrypt"],
    "kty": "oct", "kid": "mp"}, "secretKey": "A3-" + pick(string.ascii_uppercase + string.digits, 6) + "-" +
    pick(string.ascii_uppercase + string.digits, 11), "throttleSecret": {"seed": hexs(64), "uuid": uuid()},
    "deviceUuid": pick(string.ascii_lowercase + string.digits, 26)}).encode()).decode().rstrip("=")
assert OPS.startswith("ops_eyJ") and len(OPS) > 800

F: dict[str, list[dict]] = {}        # rel path -> entries
FILES: dict[str, str] = {}


def plant(rel: str, family: str, kind: str, value: str, count: int = 1) -> str:
    entry = {"kind": kind, "family": family, "value": value}
    if count > 1:
        entry["count"] = count
    F.setdefault(rel, []).append(entry)
    return value


def write(rel: str, text: str) -> None:
    FILES[rel] = text
    F.setdefault(rel, [])


# ---- cloud -----------------------------------------------------------------------------------
r = "secrets/cloud/op-service-account.env"
write(r, f"""# 1Password service account for the deploy pipeline (op CLI reads it from the environment)
OP_SERVICE_ACCOUNT_TOKEN={plant(r, "cloud", "token", OPS)}
OP_VAULT=ci-deploy
""")
r = "secrets/cloud/providers.tf"
do_token = plant(r, "cloud", "token", "dop_v1_" + hexs(64))
tfc = plant(r, "cloud", "token", pick(string.ascii_lowercase + string.digits, 14) + ".atlasv1." + urlsafe(67))
vault = plant(r, "cloud", "token", "hvs." + urlsafe(24) + alnum(71))
write(r, f"""terraform {{
  cloud {{
    organization = "acme"
    hostname     = "app.terraform.io"
  }}
}}

provider "digitalocean" {{
  token = "{do_token}"
}}

provider "vault" {{
  address = "https://vault.internal:8200"
  # root token from `vault operator init`, rotate me
  token   = "{vault}"
}}

# credentials "app.terraform.io" {{ token = "..." }} moved to ~/.terraformrc:
#   {tfc}
""")
r = "secrets/cloud/azure-app.env"
write(r, f"""AZURE_TENANT_ID={uuid()}
AZURE_CLIENT_ID={uuid()}
AZURE_CLIENT_SECRET={plant(r, "cloud", "secret", pick(ALNUM + "_~.", 3) + "8Q~" + alnum(34))}
ALIBABA_CLOUD_ACCESS_KEY_ID={plant(r, "cloud", "api-key", "LTAI" + alnum(20))}
HEROKU_API_KEY={plant(r, "cloud", "api-key", "HRKU-AA" + urlsafe(58))}
DATABRICKS_HOST=https://adb-4821337.12.azuredatabricks.net
DATABRICKS_TOKEN={plant(r, "cloud", "token", "dapi" + hexs(32))}
PULUMI_ACCESS_TOKEN={plant(r, "cloud", "token", "pul-" + hexs(40))}
DOPPLER_TOKEN={plant(r, "cloud", "token", "dp.pt." + alnum(43))}
""")

# ---- vcs, registries, developer tools ---------------------------------------------------------
r = "secrets/vcs/gitlab-runner-config.toml"
write(r, f"""concurrent = 4

[[runners]]
  name = "k8s-runner-eu"
  url = "https://gitlab.acme.dev/"
  token = "{plant(r, "vcs", "gitlab-token", "glrt-" + urlsafe(20))}"
  executor = "kubernetes"
""")
r = "secrets/vcs/.gitlab-ci.yml"
write(r, f"""trigger-downstream:
  stage: deploy
  script:
    - curl -X POST -F token={plant(r, "vcs", "gitlab-token", "glptt-" + hexs(40))} -F ref=main https://gitlab.acme.dev/api/v4/projects/42/trigger/pipeline
    - docker login -u gitlab+deploy-token-7 -p {plant(r, "vcs", "gitlab-token", "gldt-" + urlsafe(20))} registry.acme.dev
""")
r = "secrets/vcs/.npmrc"
write(r, f"""registry=https://registry.npmjs.org/
//registry.npmjs.org/:_authToken={plant(r, "vcs", "token", "npm_" + alnum(36))}
@acme:registry=https://npm.pkg.github.com
""")
r = "secrets/vcs/linear_sync.py"
write(r, f"""import httpx

LINEAR = httpx.Client(base_url="https://api.linear.app", headers={{
    "Authorization": "{plant(r, "vcs", "api-key", "lin_api_" + alnum(40))}",
}})
POSTMAN = "{plant(r, "vcs", "api-key", "PMAK-" + hexs(24) + "-" + hexs(34))}"
JIRA = ("deploy-bot@acme.dev", "{plant(r, "vcs", "api-key", "ATATT3" + urlsafe(186))}")
GEMS = "{plant(r, "vcs", "token", "rubygems_" + hexs(48))}"
""")

# ---- payment ---------------------------------------------------------------------------------
r = "secrets/payment/stripe_settings.py"
write(r, f"""# Stripe: test mode locally, restricted key for the reporting job
STRIPE_KEY = "{plant(r, "payment", "stripe-key", "sk_test_51" + alnum(97))}"
STRIPE_REPORTING_KEY = "{plant(r, "payment", "stripe-key", "rk_live_51" + alnum(97))}"
stripe.api_key = os.environ.get("STRIPE_SECRET", "{plant(r, "payment", "stripe-key", "sk_prod_" + alnum(24))}")
""")
r = "secrets/payment/checkout.env"
write(r, f"""SQUARE_ACCESS_TOKEN={plant(r, "payment", "token", "sq0atp-" + urlsafe(22))}
SHOPIFY_ADMIN={plant(r, "payment", "token", "shpat_" + hexs(32))}
SHIPPO={plant(r, "payment", "api-key", "shippo_live_" + hexs(40))}
""")

# ---- chat and webhooks ------------------------------------------------------------------------
r = "secrets/chat-webhooks/discord_bot.py"
discord = plant(r, "chat-webhooks", "webhook-url", pick(string.digits, 19) + "/" + urlsafe(68))
tg = plant(r, "chat-webhooks", "token", pick(string.digits, 10) + ":AA" + urlsafe(33))
write(r, f"""import requests

WEBHOOK = "https://discord.com/api/webhooks/{discord}"
BOT = "{tg}"


def alert(text: str) -> None:
    requests.post(WEBHOOK, json={{"content": text}}, timeout=5)
    requests.post(f"https://api.telegram.org/bot{{BOT}}/sendMessage", json={{"chat_id": -100231, "text": text}})
""")
r = "secrets/chat-webhooks/teams-alert.ps1"
teams = plant(r, "chat-webhooks", "webhook-url", f"{uuid()}@{uuid()}/IncomingWebhook/{hexs(32)}/{uuid()}")
write(r, f"""$uri = "https://acme.webhook.office.com/webhookb2/{teams}"
$body = @{{ text = "Nightly backup failed on $env:COMPUTERNAME" }} | ConvertTo-Json
Invoke-RestMethod -Method Post -Uri $uri -Body $body -ContentType 'application/json'
# SMS fallback via Twilio: {plant(r, "chat-webhooks", "api-key", "SK" + hexs(32))}
""")
r = "secrets/chat-webhooks/mail.env"
write(r, f"""BREVO={plant(r, "chat-webhooks", "api-key", "xkeysib-" + hexs(64) + "-" + alnum(16))}
SLACK_ALERTS=https://hooks.slack.com/services/{plant(r, "chat-webhooks", "slack-webhook", "T0" + pick(string.ascii_uppercase + string.digits, 8) + "/B0" + pick(string.ascii_uppercase + string.digits, 9) + "/" + alnum(24))}
""")

# ---- observability ---------------------------------------------------------------------------
r = "secrets/observability/settings.py"
dsn = plant(r, "observability", "sentry-dsn-key", hexs(32))
write(r, f"""import sentry_sdk

sentry_sdk.init(
    dsn="https://{dsn}@o4507{pick(string.digits, 8)}.ingest.us.sentry.io/45071{pick(string.digits, 6)}",
    traces_sample_rate=0.2,
)
SENTRY_AUTH = "{plant(r, "observability", "token", "sntryu_" + hexs(64))}"
""")
r = "secrets/observability/grafana.ini"
write(r, f"""[auth]
; service account for the provisioning job
api = {plant(r, "observability", "token", "glsa_" + alnum(32) + "_" + hexs(8))}
[cloud]
stack_token = {plant(r, "observability", "token", "glc_" + b64(90).rstrip("="))}
""")
r = "secrets/observability/newrelic.yml"
write(r, f"""common: &default_settings
  app_name: billing-api
  api_key: {plant(r, "observability", "api-key", "NRAK-" + pick(string.ascii_uppercase + string.digits, 27))}
  browser_key: {plant(r, "observability", "api-key", "NRJS-" + hexs(19))}
  dynatrace: {plant(r, "observability", "token", "dt0c01." + pick(string.ascii_uppercase + string.digits, 24) + "." + pick(string.ascii_uppercase + string.digits, 64))}
""")

# ---- databases and connection strings ---------------------------------------------------------
r = "secrets/databases/.pgpass"
write(r, f"""# hostname:port:database:username:password
db-primary.internal:5432:billing:billing_app:{plant(r, "databases", "password", alnum(20))}
*:6432:*:pgbouncer_admin:{plant(r, "databases", "password", pick(ALNUM + "!#%+", 18) + "9aZ")}
""")
r = "secrets/databases/datasource.properties"
write(r, f"""spring.datasource.url=jdbc:oracle:thin:ledger/{plant(r, "databases", "password", alnum(16))}@//ora-prod.internal:1521/LEDGER
spring.datasource.driver-class-name=oracle.jdbc.OracleDriver
""")
r = "secrets/databases/backup.sh"
write(r, f"""#!/bin/sh
set -eu
sqlplus -s backup/{plant(r, "databases", "password", alnum(14))}@ORCL <<'SQL'
  ALTER DATABASE BEGIN BACKUP;
SQL
export PLANETSCALE_PW={plant(r, "databases", "password", "pscale_pw_" + urlsafe(43))}
export PLANETSCALE_SERVICE_TOKEN={plant(r, "databases", "token", "pscale_tkn_" + urlsafe(43))}
""")

# ---- private keys that are not PEM ---------------------------------------------------------------
r = "secrets/private-keys/deploy.ppk"
pub = "\n".join(b64(48) for _ in range(6))
priv = "\n".join(b64(48) for _ in range(14))
ppk = (f"PuTTY-User-Key-File-3: ssh-rsa\nEncryption: none\nComment: deploy@bastion\nPublic-Lines: 6\n{pub}\n"
       f"Private-Lines: 14\n{priv}\nPrivate-MAC: {hexs(64)}")
write(r, plant(r, "private-keys", "private-key", ppk) + "\n")
r = "secrets/private-keys/id_rsa_ssh2.txt"
ssh2 = ("---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----\nComment: \"rsa-key-20240611\"\n"
        + "\n".join(b64(51) for _ in range(12)) + "\n---- END SSH2 ENCRYPTED PRIVATE KEY ----")
write(r, "the old key from the appliance, can you tell what format this is?\n\n" + plant(r, "private-keys", "private-key", ssh2) + "\n")
r = "secrets/private-keys/age-keys.txt"
write(r, f"""# created: 2024-06-11T10:02:11Z
# public key: age1{pick("qpzry9x8gf2tvdw0s3jn54khce6mua7l", 58)}
{plant(r, "private-keys", "private-key", "AGE-SECRET-KEY-1" + pick("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58))}
""")

# ---- generic assignments ---------------------------------------------------------------------
r = "secrets/generic-assignment/app_config.py"
fernet = base64.urlsafe_b64encode(bytes(rng.getrandbits(8) for _ in range(32))).decode()
write(r, f"""CACHE_KEY = "user:{{id}}"
HMAC_KEY = "{plant(r, "generic-assignment", "secret", hexs(64))}"
JWT_KEY = '{plant(r, "generic-assignment", "secret", alnum(48))}'
FERNET_KEY = b"{plant(r, "generic-assignment", "secret", fernet)}"
MAILGUN_KEY = "{plant(r, "generic-assignment", "secret", "key-" + hexs(32))}"
SESSION_TOKEN = "{plant(r, "generic-assignment", "token", "v2." + b64(900).rstrip("=").replace("+", "-").replace("/", "_"))}"
""")
r = "secrets/generic-assignment/registry-auth.yaml"
write(r, f"""registry:
  host: registry.acme.dev
  credentials: {plant(r, "generic-assignment", "secret", base64.b64encode(("ci:" + alnum(24)).encode()).decode())}
""")
r = "secrets/generic-assignment/request.http"
sid = plant(r, "generic-assignment", "session-cookie", pick(string.ascii_lowercase + string.digits, 32))
write(r, f"""GET /admin/orders?page=2 HTTP/1.1
Host: shop.acme.dev
Cookie: csrftoken=abc; sessionid={sid}; theme=dark
Accept: text/html
""")

# ---- values on the line(s) after their name --------------------------------------------------
r = "secrets/multiline-values/values.yaml"
yaml_tok = alnum(40)
write(r, f"""app:
  replicas: 2
  apiToken: |
    {plant(r, "multiline-values", "token", yaml_tok)}
  logLevel: info
""")
r = "secrets/multiline-values/clients.py"
p1, p2 = alnum(24), alnum(24)
c1, c2 = alnum(20), alnum(20)
write(r, f"""SIGNING_SECRET = (
    "{p1}"
    "{p2}"
)
CLIENT_SECRET = "{c1}" + \\
    "{c2}"
""")
plant(r, "multiline-values", "secret", p1 + p2)
plant(r, "multiline-values", "secret", c1 + c2)
F[r][-2]["fragments"] = [p1, p2]
F[r][-1]["fragments"] = [c1, c2]
r = "secrets/multiline-values/rds.tf"
tf_pw = alnum(22)
write(r, f"""resource "aws_db_instance" "ledger" {{
  engine   = "postgres"
  username = "ledger"
  password = <<-EOT
    {plant(r, "multiline-values", "password", tf_pw)}
  EOT
}}
""")
r = "secrets/multiline-values/aws-notes.txt"
aws_secret = pick(ALNUM + "/+", 40)
write(r, f"""copied from the console for the new CI user, please store in the vault:
aws_access_key_id = {plant(r, "cloud", "aws-access-key", "AKIA" + pick(string.ascii_uppercase + "234567", 16))}
aws_secret_access_key =
{plant(r, "multiline-values", "aws-secret-key", aws_secret)}
""")
r = "secrets/multiline-values/credentials.csv"
write(r, f"""User name,Password,Access key ID,Secret access key,Console login link
ci-deployer,{plant(r, "multiline-values", "password", alnum(12) + "#!")},{plant(r, "cloud", "aws-access-key", "AKIA" + pick(string.ascii_uppercase + "234567", 16))},{plant(r, "multiline-values", "aws-secret-key", pick(ALNUM + "/+", 40))},https://acme.signin.aws.amazon.com/console
""")

# ---- standalone: no telling name, or a high-entropy value in a secret-like position ------------
r = "secrets/standalone-high-entropy/slack-thread.txt"
sas = plant(r, "standalone-high-entropy", "url-signature", b64(32).replace("+", "%2B").replace("/", "%2F").replace("=", "%3D"))
amz = plant(r, "standalone-high-entropy", "url-signature", hexs(64))
write(r, f"""anna  10:02  the export link 403s for me:
https://acmeexports.blob.core.windows.net/reports/2024-06.csv?sv=2022-11-02&ss=b&srt=o&sp=r&se=2024-07-01T00:00:00Z&spr=https&sig={sas}
ben   10:04  same with the S3 one https://acme-exports.s3.eu-west-1.amazonaws.com/r.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20240611%2Feu-west-1%2Fs3%2Faws4_request&X-Amz-Date=20240611T100400Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature={amz}
anna  10:06  and the bot says 401 with {plant(r, "standalone-high-entropy", "token", pick(string.digits, 9) + ":AA" + urlsafe(33))} — did someone rotate it?
ben   10:07  try mine: {plant(r, "standalone-high-entropy", "token", "dop_v1_" + hexs(64))}
carl  10:09  gitlab says the trigger token {plant(r, "standalone-high-entropy", "gitlab-token", "glptt-" + hexs(40))} is revoked, and grafana rejects {plant(r, "standalone-high-entropy", "token", "glsa_" + alnum(32) + "_" + hexs(8))}
""")

# ---- clean near-misses -----------------------------------------------------------------------
CLEAN = {
    "clean/stripe-docs.md": """# Payments

Set `STRIPE_KEY` to your test key (it starts with `sk_test_`), e.g. `sk_test_xxxxxxxxxxxxxxxxxxxxxxxx`
or `STRIPE_KEY=sk_test_your_key_here`. Live keys look like `sk_live_...` and never go in git.
Restricted keys (`rk_live_****************`) are for the reporting job.
""",
    "clean/storage_urls.py": '''LOGO = "https://cdn.acme.dev/logo.svg?sig=v2&size=64"
AVATAR = f"https://img.acme.dev/u/{user_id}.png?signature={signature}&w=128"
SAS = "https://acme.blob.core.windows.net/c/f.csv?sv=2022-11-02&sig=${SAS_SIGNATURE}"
DOCS = "https://docs.acme.dev/webhooks?signature=sha256&sig=hmac"
DISCORD = "https://discord.com/api/webhooks/{webhook_id}/{webhook_token}"
TEAMS_DOCS = "https://learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/how-to/add-incoming-webhook"
''',
    "clean/image_fixture.py": 'PIXEL = "data:image/png;base64,' + base64.b64encode(bytes(range(256)) * 3).decode() + '"\n',
    "clean/requirements.txt": "".join(
        f"{name}=={ver} \\\n    --hash=sha256:{hexs(64)} \\\n    --hash=sha256:{hexs(64)}\n"
        for name, ver in (("aiohttp", "3.9.5"), ("anthropic", "0.28.0"), ("certifi", "2024.6.2"))),
    "clean/model_keys.py": '''CACHE_KEY = "user:{id}"
PRIMARY_KEY = "id"
SORT_KEY = "created_at"
PARTITION_KEY = "tenant_id"
IDEMPOTENCY_KEY = "Idempotency-Key"
REDIS_KEY = "orders:v2:{tenant}:{order_id}"
TRANSLATION_KEY = "errors.invalid_token"
SETTINGS_KEY = "UserProfileCacheV2"
public_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx9vQ2w7yP0cQeJzq0m1uXo8J2H3kz5pL4Rr7tYw6Fa deploy@ci"
rows.sort(key=lambda row: row.updated_at)
HOTKEY = "Ctrl+Shift+P"
credentials = "include"
fetch(url, {credentials: "same-origin"})
''',
    "clean/k8s-nested.yaml": '''env:
  - name: DB_PASSWORD
    valueFrom:
      secretKeyRef:
        name: db-credentials
        key: password
auth:
  token:
    - read
    - write
  password:
    minLength: 12
''',
    "clean/ops-notes.md": """The .pgpass format is `hostname:port:database:username:password`, e.g.
`localhost:5432:*:app:*` lets psql read the password from elsewhere. Jobs ran at 12:30:45:120.
Send `Cookie: theme=dark; lang=en-US` to get the dark theme. Telegram ids look like 123456:ABC.
Oracle: `sqlplus scott/tiger@orcl` is the classic demo login; use `sqlplus /nolog` instead.
---- BEGIN SSH2 PUBLIC KEY ----
Comment: "rsa-key-20240611"
AAAAB3NzaC1yc2EAAAADAQABAAABAQC7wq3wY8m2TQ2h9YzH0aFp5t0H8O1xkqVbJm3H2
---- END SSH2 PUBLIC KEY ----
""",
    "clean/secrets_helper.py": '''SECRET_NAME = (
    "billing-db-credentials"
)
token = (
    request.headers.get("X-Token")
)
password = "Use " + \\
    "a passphrase"
''',
}


def main() -> None:
    expected = json.loads((HERE / "expected.json").read_text())
    by_kind = {"aws-access-key": "cloud", "aws-secret-key": "cloud", "gcp-service-account-key": "cloud",
               "gcp-service-account-key-id": "cloud", "github-token": "vcs", "gitlab-token": "vcs",
               "slack-token": "chat-webhooks", "slack-webhook": "chat-webhooks", "anthropic-key": "cloud",
               "openai-key": "cloud", "jwt": "standalone-high-entropy", "url-password": "databases",
               "private-key": "private-keys", "api-key": "cloud"}
    for rel, entries in expected.items():
        if rel.count("/") == 1:                         # the original, mixed files
            for e in entries:
                e.setdefault("family", by_kind.get(e["kind"], "generic-assignment"))
    for rel, text in FILES.items():
        path = HERE / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        expected[rel] = F[rel]
    for rel, text in CLEAN.items():
        (HERE / rel).write_text(text)
    (HERE / "expected.json").write_text(json.dumps(dict(sorted(expected.items())), indent=2) + "\n")


if __name__ == "__main__":
    main()
