{
  "algorithm": "ed25519",
  "key_id": "490c7aee453d7441",
  "fingerprint": "a5980db9833afe920dcfedcd61747b21e7a06db918f203eceb4ef38523255999",
  "signature": "jqMpoQdXJPrc74l5AHyNhqC0pCioXzhJ4FkOsE5Wq9mrrCTJB12+WdSox3KS56QgaxbGjqFhvzD9Jjw4UgbPBQ=="
}
