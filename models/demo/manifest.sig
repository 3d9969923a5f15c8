{
  "algorithm": "ed25519",
  "key_id": "529ed6b2f1a24eda",
  "fingerprint": "240df0446e74263d56683c641be9dfafd8d82261df5bb30af4218ad1c03c857c",
  "signature": "UdIrkkNNJKYTVqQ4GH45G7r+QLluNj+DBWMkBc3e42cW0778rnNDKJcZjV4rbeKmG7YqfdSlwMJKI71TYr8qCA=="
}
