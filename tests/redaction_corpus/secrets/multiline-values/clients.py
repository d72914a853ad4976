SIGNING_SECRET = (
    "8eEmzK1IjfaziffAyHBdzci1"
    "D3bxhDNmB09DW0zdH3Lhy5R0"
)
CLIENT_SECRET = "elWMPs2pzXtjt3k8Cj0n" + \
    "doTMuyIEcyDlV8uxCz5u"
