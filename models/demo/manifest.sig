{
  "algorithm": "ed25519",
  "key_id": "1f4d4a615bc1107b",
  "fingerprint": "a1b66feb4d6a5b55679868eebe1896a33ea17bfd0e66cb3a5b02e280804255fd",
  "signature": "HprjBvhec8bIYnXgBEAWoHt+PEha+2y//hWdKzz0ROIbHNRjy9qiA7BioNgNpQ/kvDlLrop1M7CdPJO9sWnDDQ=="
}
