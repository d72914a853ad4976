import sentry_sdk

sentry_sdk.init(
    dsn="https://e23cc47c3ee38ae14e8496f2facd5ab3@o450752374665.ingest.us.sentry.io/45071402680",
    traces_sample_rate=0.2,
)
SENTRY_AUTH = "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"
