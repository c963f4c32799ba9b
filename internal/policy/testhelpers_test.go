package policy

import (
	"errors"
	"strings"
	"testing"
)

const (
	acct      = "111122223333"
	otherAcct = "444455556666"
	aliceARN  = "arn:aws:iam::111122223333:user/alice"
	bobARN    = "arn:aws:iam::111122223333:user/bob"
	rootARN   = "arn:aws:iam::111122223333:root"
	keyARN    = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
)

// defaultKeyPolicy is the policy AWS KMS attaches to a key created without one.
const defaultKeyPolicy = `{
  "Version": "2012-10-17",
  "Id": "key-default-1",
  "Statement": [
    {
      "Sid": "Enable IAM User Permissions",
      "Effect": "Allow",
      "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
      "Action": "kms:*",
      "Resource": "*"
    }
  ]
}`

func mustParse(t testing.TB, doc string) *Policy {
	t.Helper()
	p, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, doc)
	}
	return p
}

// identity wraps statements into a 2012-10-17 policy document.
func doc(statements ...string) string {
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(statements, ",") + `]}`
}

func alice(action, resource string) *Request {
	return &Request{
		Principal: Principal{ARN: aliceARN},
		Action:    action,
		Resource:  resource,
	}
}

func wantParseError(t *testing.T, err error, substr string) {
	t.Helper()
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("error = %v (%T), want *ParseError containing %q", err, err, substr)
	}
	if !strings.Contains(pe.Msg, substr) {
		t.Fatalf("error = %q, want it to contain %q", pe.Msg, substr)
	}
}
