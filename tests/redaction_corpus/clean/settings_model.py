from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    slack_bot_token: SecretStr = Field(alias="SLACK_BOT_TOKEN")
    slack_app_token: SecretStr | None = Field(default=None, alias="SLACK_APP_TOKEN")
    slack_signing_secret: SecretStr | None = Field(default=None, alias="SLACK_SIGNING_SECRET")
    anthropic_api_key: SecretStr = Field(alias="ANTHROPIC_API_KEY")
    database_password: str | None = None
    secret_name: str = "db-credentials"
    token_ttl_seconds: int = 900
    password_min_length: int = 12

    def redis_url(self, host: str, password: str | None) -> str:
        auth = f":{password}@" if password else ""
        return f"redis://{auth}{host}:6379/0"


def load() -> Settings:
    settings = Settings()
    token = settings.slack_bot_token.get_secret_value()
    if not token.startswith(("xoxb-", "xoxp-")):
        raise ValueError("SLACK_BOT_TOKEN must be a bot or user token (xoxb-… / xoxp-…)")
    return settings
