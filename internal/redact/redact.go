package redact

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Hidden replaces the value of every sensitive member; it is CloudTrail's
// own marker, so tools that know CloudTrail recognise it.
const Hidden = "HIDDEN_DUE_TO_SECURITY_REASONS"

// IsSensitive reports whether a member named name (compared without regard
// to case) carries secret material that must never reach the audit log.
// This is the one list of such names; add to it when an API gains a secret
// field. Replacing a name that is not secret only costs detail in the log,
// so the list errs towards hiding.
func IsSensitive(name string) bool {
	switch strings.ToLower(name) {
	case
		// KMS: Encrypt/Decrypt/GenerateDataKey*/GenerateRandom/ImportKeyMaterial.
		"plaintext", "privatekeyplaintext", "keymaterial", "encryptedkeymaterial", "importtoken",
		// Secrets Manager: values and generated passwords.
		"secretstring", "secretbinary", "randompassword",
		// ACM / ACM PCA: exported keys and the passphrase protecting them.
		"passphrase", "privatekey", "certificateprivatekey",
		// IAM / STS: credentials.
		"secretaccesskey", "sessiontoken", "password", "oldpassword", "newpassword",
		// EventBridge connections: OAuth client secret, API key value and
		// the authorization header's token.
		"clientsecret", "apikeyvalue", "authorizationtoken",
		// Generic names services use for secrets.
		"secret", "secretkey":
		return true
	}
	return false
}

// Value returns a copy of v converted to JSON's generic shapes
// (map[string]any, []any, string, json.Number, bool, nil) in which every
// object member whose name IsSensitive is replaced by Hidden, at any depth.
// Structs are converted through encoding/json, so their json tags give the
// names. v itself is never modified. A value encoding/json cannot serialise
// is replaced wholesale by Hidden rather than risk logging it.
func Value(v any) any {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return Hidden
	}
	if string(b) == "{}" {
		// The input of every call without parameters: what decoding
		// would give, without a decoder's buffers.
		return map[string]any{}
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber() // keep large integers exact
	var g any
	if err := d.Decode(&g); err != nil {
		return Hidden
	}
	return redactValue(g)
}

// redactValue redacts a freshly decoded value in place; it owns g.
func redactValue(g any) any {
	switch t := g.(type) {
	case map[string]any:
		for k, v := range t {
			if IsSensitive(k) {
				t[k] = Hidden
			} else {
				t[k] = redactValue(v)
			}
		}
		return t
	case []any:
		for i, v := range t {
			t[i] = redactValue(v)
		}
		return t
	default:
		return g
	}
}
