import httpx

LINEAR = httpx.Client(base_url="https://api.linear.app", headers={
    "Authorization": "lin_api_n5N5LBS9QN3JFCVJwnh8S0z054LYyVc1pFRS8A2G",
})
POSTMAN = "PMAK-04d5014995756e61d6b91cda-411dfd72f1a3447c745c48c0b90a16be33"
JIRA = ("deploy-bot@acme.dev", "ATATT3HH5F_grANC_aBcnwDDOOAZvw6d3eK3pxFkhJA5uFyeUhwksU8dSaNrFWv5SRclfFhhqCmzhp59yZk4d6_GlThw-ZqyC85Nn7Jf30xIOdZh-NRwhUTv3L-Smo927U2aT1yVPMm5nYtffRcvy0Dxo5pCJFz2B30M8KVM-w8MDaD3vSS1Mmn7qOiqh1yu")
GEMS = "rubygems_099eec01407ec6a1b044da05ca4ed81004c1dec8ee162646"
