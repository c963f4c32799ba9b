package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// TestParseRefusesDuplicateKeys covers the attack class "a later duplicate
// member silently replaces an earlier one": at every depth of the document,
// with escaped spellings of the same name, in every kind of policy.
func TestParseRefusesDuplicateKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		kind Kind
		doc  string
		want string // part of the message naming where
	}{
		{"effect deny then allow", KindIdentity,
			`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:*","Resource":"*","Effect":"Allow"}]}`,
			`"Effect" twice in Statement[0]`},
		{"escaped duplicate name", KindIdentity,
			`{"Statement":[{"Effect":"Deny","Action":"kms:*","Resource":"*","Eff\u0065ct":"Allow"}]}`,
			`"Effect" twice in Statement[0]`},
		{"second statement", KindIdentity,
			`{"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"},{"Effect":"Deny","Action":"kms:*","Action":"s3:*","Resource":"*"}]}`,
			`"Action" twice in Statement[1]`},
		{"top-level statement twice", KindIdentity,
			`{"Statement":{"Effect":"Deny","Action":"*","Resource":"*"},"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`,
			`"Statement" twice;`},
		{"top-level version twice", KindAny,
			`{"Version":"2008-10-17","Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`,
			`"Version" twice;`},
		{"statement object form", KindIdentity,
			`{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Resource":"arn:aws:kms:*:*:key/x"}}`,
			`"Resource" twice in Statement`},
		{"condition operator twice", KindIdentity,
			`{"Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:username":"bob"},"StringEquals":{"aws:username":"nobody"}}}}`,
			`"StringEquals" twice in Statement.Condition`},
		{"condition key twice", KindIdentity,
			`{"Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/env":"prod","aws:ResourceTag/env":"none"}}}}`,
			`"aws:ResourceTag/env" twice in Statement.Condition.StringEquals`},
		{"principal type twice", KindResource,
			`{"Statement":[{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice","AWS":"arn:aws:iam::111122223333:user/nobody"},"Action":"kms:*","Resource":"*"}]}`,
			`"AWS" twice in Statement[0].Principal`},
		{"notprincipal type twice", KindResource,
			`{"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":"*","AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}`,
			`"AWS" twice in Statement[0].NotPrincipal`},
		{"deep in arrays after other values", KindIdentity,
			`{"Statement":[{"Effect":"Allow","Action":["a:b",{"x":1}],"Resource":"*"},{"Effect":"Allow","Action":"*","Resource":"*","Sid":"a","Sid":"b"}]}`,
			`"Sid" twice in Statement[1]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseWithOptions([]byte(tc.doc), ParseOptions{Kind: tc.kind})
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *ParseError for the duplicate", err)
			}
			if !strings.Contains(pe.Msg, tc.want) {
				t.Errorf("message %q does not contain %q", pe.Msg, tc.want)
			}
		})
	}
}

// TestParseAcceptsRepeatedNamesInDifferentObjects keeps the check to real
// duplicates: the same name in sibling or nested objects is fine.
func TestParseAcceptsRepeatedNamesInDifferentObjects(t *testing.T) {
	t.Parallel()
	docs := []string{
		`{"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"},{"Effect":"Deny","Action":"kms:*","Resource":"*"}]}`,
		`{"Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:username":"a"},"StringLike":{"aws:username":"b*"}}}}`,
		`{"Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/env":"a","aws:resourcetag/env":"a"}}}}`,
	}
	for _, d := range docs {
		if _, err := Parse([]byte(d)); err != nil {
			t.Errorf("Parse(%s): %v", d, err)
		}
	}
}

func FuzzCheckDuplicateKeys(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"a":{"b":1,"b":2}}`))
	f.Add([]byte(`[[{"a":1}],{"a":[1,{"a":2,"a":3}]}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if !validJSON(data) {
			return
		}
		err := checkDuplicateKeys(data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Msg == "" {
				t.Fatalf("error %v is not a non-empty *ParseError", err)
			}
		}
		// A document without duplicates must round-trip through a map
		// without losing members, i.e. the check agrees with a naive count.
		if (err != nil) != hasDuplicateNaive(data) {
			t.Fatalf("checkDuplicateKeys(%q) = %v, naive check disagrees", data, err)
		}
	})
}

func validJSON(b []byte) bool { return json.Valid(b) }

// hasDuplicateNaive is a recursive second implementation for the fuzzer.
func hasDuplicateNaive(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var walk func() bool
	walk = func() bool {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		d, ok := tok.(json.Delim)
		if !ok {
			return false
		}
		dup := false
		seen := map[string]bool{}
		for dec.More() {
			if d == '{' {
				k, _ := dec.Token()
				ks, _ := k.(string)
				if seen[ks] {
					dup = true
				}
				seen[ks] = true
			}
			if walk() {
				dup = true
			}
		}
		dec.Token() // closing delimiter
		return dup
	}
	return walk()
}
