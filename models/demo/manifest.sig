{
  "algorithm": "ed25519",
  "key_id": "e3c07fe57fe1d90b",
  "fingerprint": "54b03e6eb1e718ceebbd650fb1174dda4f2a3abc6f41e89d54dc545a043ca40c",
  "signature": "yjW+Pi6EBrqn7ESSG91/ntrzZTPGB81x/LpdLHKrbkplrau9e9fx26xJibGnlj09lQkKKyplt+6LdATnPX1qAQ=="
}
