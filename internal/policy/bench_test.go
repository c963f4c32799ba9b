package policy

import "testing"

// benchPolicy is a typical key policy: root delegation, an administrator
// statement and a usage statement with a condition.
const benchPolicy = `{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "Admins", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/KeyAdmin"},
     "Action": ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:Put*", "kms:Disable*", "kms:ScheduleKeyDeletion"],
     "Resource": "*"},
    {"Sid": "Use", "Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::111122223333:user/bob", "arn:aws:iam::111122223333:user/alice"]},
     "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
     "Condition": {"StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}, "Bool": {"aws:SecureTransport": "true"}}},
    {"Sid": "NoPlaintext", "Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*",
     "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
  ]
}`

func BenchmarkEvaluate(b *testing.B) {
	p := mustParse(b, benchPolicy)
	req := &Request{
		Principal: Principal{ARN: aliceARN},
		Action:    "kms:Decrypt",
		Resource:  keyARN,
		Context: map[string][]string{
			"kms:viaservice":      {"secretsmanager.us-east-1.amazonaws.com"},
			"aws:securetransport": {"true"},
			"aws:sourceip":        {"203.0.113.7"},
		},
	}
	if got := p.Evaluate(req); got != Allow {
		b.Fatalf("Evaluate = %v, want Allow", got)
	}
	b.ReportAllocs()
	for b.Loop() {
		p.Evaluate(req)
	}
}

func BenchmarkAuthorizeKeyPolicy(b *testing.B) {
	key := mustParse(b, defaultKeyPolicy)
	id := mustParse(b, doc(`{"Effect":"Allow","Action":["kms:Decrypt","kms:Encrypt"],"Resource":"arn:aws:kms:us-east-1:111122223333:key/*"}`))
	req := alice("kms:Decrypt", keyARN)
	if d := Authorize(req, []*Policy{id}, key, KeyPolicy); !d.Allowed {
		b.Fatalf("Authorize = %+v", d)
	}
	b.ReportAllocs()
	for b.Loop() {
		Authorize(req, []*Policy{id}, key, KeyPolicy)
	}
}

func BenchmarkParse(b *testing.B) {
	data := []byte(benchPolicy)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}
