SECRET_NAME = (
    "billing-db-credentials"
)
token = (
    request.headers.get("X-Token")
)
password = "Use " + \
    "a passphrase"
