{
  "algorithm": "ed25519",
  "key_id": "7628d3d7cb00d3e7",
  "fingerprint": "ac37706169e535ab7e3d176d49e67cac6ffa96b6e3e277ad79aecc0f197764db",
  "signature": "P8owayn42i+OePSxSbGTOoUMJak1iKAJ+ySuSd5xPdaN0KYmN2Xvg63DqTo+0p4I4GotwHzENMcxo0rZD/3lBA=="
}
