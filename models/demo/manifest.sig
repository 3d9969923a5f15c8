{
  "algorithm": "ed25519",
  "key_id": "f679e4a0bcc1a4e8",
  "fingerprint": "8d25ef4896dd786a30ff049136a2ddbabfb55891f95883c7f7c12cadf2affcb3",
  "signature": "INrUSXFpKmVHLFJuTPJOrc4W3l4ywacuy/RgEWFZxcg7uUKIW9IemzXIABsc1f3fpv8KwIOEc5nnLxhdA/M9Ag=="
}
