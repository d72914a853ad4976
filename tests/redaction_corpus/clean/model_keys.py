CACHE_KEY = "user:{id}"
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
