# Stripe: test mode locally, restricted key for the reporting job
STRIPE_KEY = "sk_test_51I5SIWFUEuStfbLJjTydZVy1HIPUNsDW437HCx15jG40qPqzOnBHuQOvJ92sxOoOFyIA8g7yCfqcrFfmEIHLKXZPEnx21I1E0F"
STRIPE_REPORTING_KEY = "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"
stripe.api_key = os.environ.get("STRIPE_SECRET", "sk_prod_DBPxg3zTXD09lq9oC26U6j6m")
