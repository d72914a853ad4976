$uri = "https://acme.webhook.office.com/webhookb2/f11e9577-d7d5-4bfd-ab64-f3f0468e068a@29301ffd-b801-4783-a277-7c027aaddbfe/IncomingWebhook/258b6736c838acdc4bbe92537f2f26ff/29c1026b-e55a-4964-a31b-5250f067b74c"
$body = @{ text = "Nightly backup failed on $env:COMPUTERNAME" } | ConvertTo-Json
Invoke-RestMethod -Method Post -Uri $uri -Body $body -ContentType 'application/json'
# SMS fallback via Twilio: SK68bd1ee27518e4bd6e1e465a7829ebc3
