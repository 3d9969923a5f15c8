{
  "algorithm": "ed25519",
  "key_id": "71c685a646683734",
  "fingerprint": "24721270f622e81f0af06566a9544ea5822cd686e7ea872e30b646607c664ce7",
  "signature": "qHqaW1k7Vf9nG78aVxh/mVAnSrv4hbZx2jlyw+rc7muqcy4PsmoO/Z5nsoFBuM7xhfMYzkP4l+UcRNkrlCN+Dw=="
}
