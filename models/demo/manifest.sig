{
  "algorithm": "ed25519",
  "key_id": "e90b1812238354b8",
  "fingerprint": "c8c36244f81f0621987240e5d92fd26174b2ac995d7b405154c37e50ee716296",
  "signature": "HEtWC2QIqPKAj+6HfEK518UPAi2jo7h2uLhMEIVLKM21QiQcgPvUew5j6qaQ6Y4mFV6Rkds+MX/FnFQZmgxnCw=="
}
