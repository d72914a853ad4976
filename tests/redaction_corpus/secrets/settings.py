"""Django settings for the orders service (staging)."""

from pathlib import Path

import boto3

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "django-insecure-#d_h+l6!c4rova^8dyqj=x66yvl^gx9v1988wi0jw*aq_1ke%t"

DEBUG = False
ALLOWED_HOSTS = ["orders.staging.example.com"]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "orders",
        "USER": "orders_app",
        "PASSWORD": "=lTN%p8+*lOLw6JSB",
        "HOST": "orders-db.internal",
        "PORT": "5432",
    }
}

EMAIL_HOST = "smtp.mailgun.org"
EMAIL_HOST_USER = "postmaster@mg.example.com"
EMAIL_HOST_PASSWORD = 'VkDf-H35Kh_iChOtsTb'

CELERY_BROKER_URL = "amqp://orders:O3UnRtwGq9r~.LzSYYJ@rabbitmq.internal:5672/orders"

s3 = boto3.client(
    "s3",
    region_name="eu-west-1",
    aws_access_key_id="AKIAGAY4CF72LF32EAM3",
    aws_secret_access_key="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",
)

OPENAI_API_KEY = "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"
GITHUB_APP_CLIENT_SECRET = "69882499c7f796a9ff2794a02a6450e9d70910e6"


class PaymentsSettings:
    api_base: str = "https://api.payments.example.com/v2"
    webhook_secret: str = "96PioxYEqn8Rgs0lAeaISZWp4Qn8AGFg"
    timeout_s: float = 10.0


def request_session():
    import requests

    session = requests.Session()
    session.headers["Authorization"] = "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIzNzc0MzkzIiwibmFtZSI6InN2Yy1kZXBsb3kiLCJpYXQiOjE3MTgzNTY0NTQsImV4cCI6MTcxOTc2OTgwN30.QjljD7I1nrbrHPMf1El_vWwSs_7zdZ17rD2NT9GLNi5"
    return session
