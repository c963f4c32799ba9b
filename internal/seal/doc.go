// Package seal holds Bulwark's master key and seals small secrets at rest.
//
// Everything secret that Bulwark stores — CA and KMS private keys, secret
// values, access-key secrets — passes through a [Sealer] before it reaches
// storage, so the raw database never contains a private key or secret value.
// [Keyring] is the implementation: AES-256-GCM under a key derived from the
// 32-byte master key with HKDF-SHA256, so the master key itself never keys a
// cipher and other keys can later be derived from it for other purposes.
//
// The master key comes from one of three sources:
//
//   - [KeyFromBase64]: the BULWARK_MASTER_KEY environment variable (production);
//   - [LoadOrCreateKeyFile]: a 0600 file in the data dir (dev mode);
//   - [KeyFromPassphrase]: an operator passphrase stretched with Argon2id.
//
// Sealed format (version 1):
//
//	+---------+-----------+----------+----------------------+
//	| 0x01    | key id    | nonce    | ciphertext || tag    |
//	| 1 byte  | 4 bytes   | 12 bytes | len(plaintext) + 16  |
//	+---------+-----------+----------+----------------------+
//
// The key id names the key that sealed the blob, so a keyring holds the
// current key and retired ones during a rotation and opens each blob with
// the key it names; [SealedKeyID] reads it without opening the blob. The version byte and key
// id are authenticated together with the caller's additional data, so none of
// them can be altered without [Sealer.Open] failing.
//
// The same keyring authenticates data kept in the clear ([Authenticator]):
// HMAC-SHA256 under a third key derived from each master key (HKDF label
// "bulwark record tag v1"). Tag format (version 1):
//
//	+---------+-----------+---------------------------------------+
//	| 0x01    | key id    | HMAC-SHA256(tag key, 0x01 || id || m) |
//	| 1 byte  | 4 bytes   | 32 bytes                              |
//	+---------+-----------+---------------------------------------+
//
// The key id is the sealing key id of the same master key, so one rotation
// moves both, and a rotating keyring verifies tags of its previous keys.
package seal
