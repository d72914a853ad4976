import requests

WEBHOOK = "https://discord.com/api/webhooks/8389807140689429963/595WXjjOt6v3rzKE4RNo88yLVvlwEpgnR74KLO10yZ2ChVIHNaQzlMKYdILjCZO4uEHr"
BOT = "4280849079:AAUixrXkOKKjOwTTozqvCnAKjsmvnwK24pD"


def alert(text: str) -> None:
    requests.post(WEBHOOK, json={"content": text}, timeout=5)
    requests.post(f"https://api.telegram.org/bot{BOT}/sendMessage", json={"chat_id": -100231, "text": text})
