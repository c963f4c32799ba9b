package redact

import (
	"encoding/json"
	"reflect"
	"testing"
)

type exportInput struct {
	CertificateArn string `json:"CertificateArn"`
	Passphrase     []byte `json:"Passphrase"`
}

type nested struct {
	Name     string        `json:"name"`
	Inner    *exportInput  `json:"inner,omitempty"`
	List     []exportInput `json:"list"`
	Password string        // untagged: encoding/json names it Password
	Internal string        `json:"-"`
	Count    int64         `json:"count"`
}

func TestValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   any
		want any
	}{
		{name: "nil", in: nil, want: nil},
		{name: "scalar", in: "plain", want: "plain"},
		{name: "empty struct", in: struct{}{}, want: map[string]any{}},
		{name: "empty map", in: map[string]string{}, want: map[string]any{}},
		{name: "nil map", in: map[string]string(nil), want: nil},
		{
			name: "struct with json tags",
			in:   exportInput{CertificateArn: "arn:cert", Passphrase: []byte("pw")},
			want: map[string]any{"CertificateArn": "arn:cert", "Passphrase": Hidden},
		},
		{
			name: "nested structs, slices and untagged fields",
			in: nested{
				Name: "n", Inner: &exportInput{CertificateArn: "a", Passphrase: []byte("x")},
				List: []exportInput{{CertificateArn: "b", Passphrase: []byte("y")}}, Password: "pw",
				Internal: "never serialised", Count: 1 << 60,
			},
			want: map[string]any{
				"name":     "n",
				"inner":    map[string]any{"CertificateArn": "a", "Passphrase": Hidden},
				"list":     []any{map[string]any{"CertificateArn": "b", "Passphrase": Hidden}},
				"Password": Hidden,
				"count":    json.Number("1152921504606846976"),
			},
		},
		{
			name: "maps at depth, any case",
			in: map[string]any{
				"SecretId":     "prod/db",
				"secretstring": `{"password":"x"}`,
				"Versions": []any{
					map[string]any{"SECRETBINARY": []byte{1, 2}, "VersionId": "v1"},
					[]any{map[string]string{"PrivateKeyPlaintext": "k", "KeyId": "key"}},
				},
				"Credentials": map[string]any{"AccessKeyId": "AKIA", "SecretAccessKey": "s", "SessionToken": "t"},
			},
			want: map[string]any{
				"SecretId":     "prod/db",
				"secretstring": Hidden,
				"Versions": []any{
					map[string]any{"SECRETBINARY": Hidden, "VersionId": "v1"},
					[]any{map[string]any{"PrivateKeyPlaintext": Hidden, "KeyId": "key"}},
				},
				"Credentials": map[string]any{"AccessKeyId": "AKIA", "SecretAccessKey": Hidden, "SessionToken": Hidden},
			},
		},
		{name: "sensitive member holding an object", in: map[string]any{"Secret": map[string]any{"a": 1}}, want: map[string]any{"Secret": Hidden}},
		{name: "unserialisable value is hidden whole", in: map[string]any{"KeyId": "k", "f": func() {}}, want: Hidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Value(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Value = %#v\nwant     %#v", got, tt.want)
			}
		})
	}
}

func TestValueDoesNotModifyInput(t *testing.T) {
	t.Parallel()
	inner := map[string]any{"Plaintext": "secret"}
	in := map[string]any{"Inner": inner, "Plaintext": "secret"}
	Value(in)
	if in["Plaintext"] != "secret" || inner["Plaintext"] != "secret" {
		t.Errorf("Value modified its input: %v", in)
	}
}

func TestIsSensitive(t *testing.T) {
	t.Parallel()
	for _, name := range []string{
		"Plaintext", "SecretString", "SecretBinary", "Passphrase", "PrivateKey", "PrivateKeyPlaintext",
		"SecretAccessKey", "Password", "RandomPassword", "KeyMaterial", "Secret", "CertificatePrivateKey",
		"plaintext", "PASSWORD", "ClientSecret", "ApiKeyValue", "AuthorizationToken",
	} {
		if !IsSensitive(name) {
			t.Errorf("IsSensitive(%q) = false", name)
		}
	}
	for _, name := range []string{"KeyId", "SecretId", "CiphertextBlob", "Certificate", "AccessKeyId", ""} {
		if IsSensitive(name) {
			t.Errorf("IsSensitive(%q) = true", name)
		}
	}
}
