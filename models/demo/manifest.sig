{
  "algorithm": "ed25519",
  "key_id": "1275c8fe5b9007fb",
  "fingerprint": "4c55c48f82daee23cad6e28534c56c86d4dfdc6da1f205bb0a7499b1b96de8b0",
  "signature": "EUTKJFBgfHnFVpPEbsihBPAs0iRgsaqS06oqU6MhZEy+c0OV02j3T4yhLYWWZsyiatJuRUAy9x5s4f1JQoIPBw=="
}
