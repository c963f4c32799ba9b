package policy

import (
	"reflect"
	"testing"
)

func TestParseShapes(t *testing.T) {
	t.Parallel()
	p := mustParse(t, `{
	  "Version": "2012-10-17",
	  "Id": "doc-1",
	  "Statement": {
	    "Sid": "One",
	    "Effect": "Deny",
	    "Principal": {"AWS": ["111122223333", "arn:aws:iam::111122223333:user/alice"], "Service": "ec2.amazonaws.com"},
	    "NotAction": "kms:Decrypt",
	    "Condition": {"NumericLessThan": {"aws:MultiFactorAuthAge": 3600}, "Bool": {"aws:SecureTransport": false}}
	  }
	}`)
	if p.Version != Version2012 || p.ID != "doc-1" || len(p.Statements) != 1 {
		t.Fatalf("policy = %+v", p)
	}
	st := p.Statements[0]
	want := Statement{
		Sid:    "One",
		Effect: Deny,
		Principal: map[string][]string{
			"AWS":     {"111122223333", "arn:aws:iam::111122223333:user/alice"},
			"Service": {"ec2.amazonaws.com"},
		},
		NotAction: []string{"kms:Decrypt"},
		Condition: map[string]map[string][]string{
			"NumericLessThan": {"aws:MultiFactorAuthAge": {"3600"}},
			"Bool":            {"aws:SecureTransport": {"false"}},
		},
	}
	st.c = compiled{}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("statement =\n%+v\nwant\n%+v", st, want)
	}

	star := mustParse(t, `{"Statement":[{"Effect":"Allow","Principal":"*","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}]}`)
	if got := star.Statements[0].Principal; !reflect.DeepEqual(got, map[string][]string{"*": {"*"}}) {
		t.Errorf(`"Principal": "*" parsed as %v`, got)
	}
	if got := star.Statements[0].Action; !reflect.DeepEqual(got, []string{"kms:Encrypt", "kms:Decrypt"}) {
		t.Errorf("Action = %v", got)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	allow := `"Effect":"Allow","Action":"kms:*","Resource":"*"`
	tests := []struct {
		name string
		kind Kind
		doc  string
		want string
	}{
		{"not json", KindAny, `{"Statement":`, "not valid JSON"},
		{"not an object", KindAny, `["x"]`, "must be a JSON object"},
		{"null document", KindAny, `null`, "must be a JSON object"},
		{"bad version", KindAny, `{"Version":"2020-01-01","Statement":{` + allow + `}}`, `"Version" must be`},
		{"numeric version", KindAny, `{"Version":2012,"Statement":{` + allow + `}}`, `"Version" must be a string`},
		{"no statement", KindAny, `{"Version":"2012-10-17"}`, `no "Statement"`},
		{"empty statement list", KindAny, `{"Statement":[]}`, "must not be empty"},
		{"statement is a string", KindAny, `{"Statement":"x"}`, "object or an array"},
		{"statement element not object", KindAny, `{"Statement":[1]}`, "statement 1: must be a JSON object"},
		{"unknown top-level element", KindAny, `{"Statement":{` + allow + `},"Versoin":"x"}`, `unknown policy element "Versoin"`},
		{"lower-case element", KindAny, `{"Statement":{"effect":"Allow","Action":"kms:*","Resource":"*"}}`, `unknown statement element "effect"`},
		{"bad effect", KindAny, doc(`{"Effect":"Permit","Action":"kms:*","Resource":"*"}`, `{`+allow+`}`), `statement 1: "Effect" must be "Allow" or "Deny"`},
		{"bad effect second statement", KindAny, doc(`{`+allow+`}`, `{"Effect":"allow","Action":"kms:*","Resource":"*"}`), `statement 2: "Effect" must be "Allow" or "Deny"`},
		{"missing effect", KindAny, doc(`{"Action":"kms:*","Resource":"*"}`), `missing "Effect"`},
		{"missing action", KindAny, doc(`{"Effect":"Allow","Resource":"*"}`), `missing "Action" or "NotAction"`},
		{"action and notaction", KindAny, doc(`{"Effect":"Allow","Action":"kms:*","NotAction":"kms:Decrypt","Resource":"*"}`), `both "Action" and "NotAction"`},
		{"resource and notresource", KindAny, doc(`{"Effect":"Allow","Action":"kms:*","Resource":"*","NotResource":"*"}`), `both "Resource" and "NotResource"`},
		{"principal and notprincipal", KindAny, doc(`{"Effect":"Allow","Principal":"*","NotPrincipal":{"AWS":"*"},"Action":"kms:*"}`), `both "Principal" and "NotPrincipal"`},
		{"action without vendor", KindAny, doc(`{"Effect":"Allow","Action":"Decrypt","Resource":"*"}`), "prefaced by a vendor"},
		{"action not a string", KindAny, doc(`{"Effect":"Allow","Action":42,"Resource":"*"}`), `"Action" must be a string or an array`},
		{"action array with number", KindAny, doc(`{"Effect":"Allow","Action":["kms:Decrypt",1],"Resource":"*"}`), `"Action" must be a string or an array`},
		{"empty action array", KindAny, doc(`{"Effect":"Allow","Action":[],"Resource":"*"}`), `"Action" must not be empty`},
		{"resource not an arn", KindAny, doc(`{"Effect":"Allow","Action":"kms:*","Resource":"key/1"}`), "must be an ARN"},
		{"identity policy missing resource", KindIdentity, doc(`{"Effect":"Allow","Action":"kms:*"}`), `missing "Resource"`},
		{"identity policy with principal", KindIdentity, doc(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}`), "must not specify a principal"},
		{"resource policy without principal", KindResource, doc(`{` + allow + `}`), `must have "Principal" or "NotPrincipal"`},
		{"principal string not star", KindAny, doc(`{"Effect":"Allow","Principal":"alice","Action":"kms:*"}`), `"Principal" must be "*" or an object`},
		{"unknown principal type", KindAny, doc(`{"Effect":"Allow","Principal":{"User":"alice"},"Action":"kms:*"}`), `unknown principal type "User"`},
		{"invalid aws principal", KindAny, doc(`{"Effect":"Allow","Principal":{"AWS":"alice"},"Action":"kms:*"}`), `invalid AWS principal "alice"`},
		{"empty principal object", KindAny, doc(`{"Effect":"Allow","Principal":{},"Action":"kms:*"}`), "must not be empty"},
		{"duplicate sid", KindAny, doc(`{"Sid":"A",`+allow+`}`, `{"Sid":"A",`+allow+`}`), `statement 2: Sid "A" is already used by statement 1`},
		{"unknown operator", KindAny, doc(`{` + allow + `,"Condition":{"StringEqualz":{"aws:username":"alice"}}}`), `unknown condition operator "StringEqualz"`},
		{"unknown set operator", KindAny, doc(`{` + allow + `,"Condition":{"ForSomeValues:StringEquals":{"aws:TagKeys":"a"}}}`), `unknown condition set operator "ForSomeValues"`},
		{"null with ifexists", KindAny, doc(`{` + allow + `,"Condition":{"NullIfExists":{"aws:username":"true"}}}`), "Null takes neither"},
		{"condition key without vendor", KindAny, doc(`{` + allow + `,"Condition":{"StringEquals":{"username":"alice"}}}`), "prefaced by a vendor"},
		{"condition not an object", KindAny, doc(`{` + allow + `,"Condition":"x"}`), `"Condition" must be an object`},
		{"condition operator empty", KindAny, doc(`{` + allow + `,"Condition":{"StringEquals":{}}}`), "has no condition keys"},
		{"condition value object", KindAny, doc(`{` + allow + `,"Condition":{"StringEquals":{"aws:username":{"a":1}}}}`), "must be a string, number, boolean"},
		{"condition values empty", KindAny, doc(`{` + allow + `,"Condition":{"StringEquals":{"aws:username":[]}}}`), "must not be empty"},
		{"numeric value not a number", KindAny, doc(`{` + allow + `,"Condition":{"NumericEquals":{"kms:GrantCount":"ten"}}}`), `value "ten" is not a number`},
		{"date value not a date", KindAny, doc(`{` + allow + `,"Condition":{"DateLessThan":{"aws:CurrentTime":"tomorrow"}}}`), "is not a date"},
		{"ip value not an ip", KindAny, doc(`{` + allow + `,"Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/33"}}}`), "not an IP address"},
		{"bool value not a bool", KindAny, doc(`{` + allow + `,"Condition":{"Bool":{"aws:SecureTransport":"yes"}}}`), "must be true or false"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseWithOptions([]byte(tc.doc), ParseOptions{Kind: tc.kind})
			wantParseError(t, err, tc.want)
		})
	}
}

func TestParseKinds(t *testing.T) {
	t.Parallel()
	if _, err := ParseResource([]byte(defaultKeyPolicy)); err != nil {
		t.Errorf("ParseResource(default key policy): %v", err)
	}
	if _, err := ParseIdentity([]byte(defaultKeyPolicy)); err == nil {
		t.Error("ParseIdentity accepted a policy with a principal")
	}
	id := doc(`{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}`)
	if _, err := ParseIdentity([]byte(id)); err != nil {
		t.Errorf("ParseIdentity: %v", err)
	}
	if _, err := ParseResource([]byte(id)); err == nil {
		t.Error("ParseResource accepted a statement without a principal")
	}
	// A resource policy statement may omit Resource: it means the resource itself.
	p, err := ParseResource([]byte(doc(`{"Effect":"Allow","Principal":{"AWS":"` + aliceARN + `"},"Action":"kms:Decrypt"}`)))
	if err != nil {
		t.Fatalf("ParseResource without Resource: %v", err)
	}
	if got := p.Evaluate(alice("kms:Decrypt", keyARN)); got != Allow {
		t.Errorf("resource policy without Resource: got %v, want Allow", got)
	}
}

func TestEvaluate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		doc  string
		req  *Request
		want Effect
	}{
		{
			name: "allow",
			doc:  doc(`{"Effect":"Allow","Action":"kms:Decrypt","Resource":"` + keyARN + `"}`),
			req:  alice("kms:Decrypt", keyARN),
			want: Allow,
		},
		{
			name: "implicit deny for another action",
			doc:  doc(`{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}`),
			req:  alice("kms:Encrypt", keyARN),
			want: NoMatch,
		},
		{
			name: "implicit deny for another resource",
			doc:  doc(`{"Effect":"Allow","Action":"kms:Decrypt","Resource":"` + keyARN + `"}`),
			req:  alice("kms:Decrypt", "arn:aws:kms:us-east-1:111122223333:key/other"),
			want: NoMatch,
		},
		{
			name: "explicit deny beats allow",
			doc: doc(`{"Effect":"Allow","Action":"kms:*","Resource":"*"}`,
				`{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}`),
			req:  alice("kms:Decrypt", keyARN),
			want: Deny,
		},
		{
			name: "deny listed first still wins over later allow",
			doc: doc(`{"Effect":"Deny","Action":"kms:ScheduleKeyDeletion","Resource":"*"}`,
				`{"Effect":"Allow","Action":"*","Resource":"*"}`),
			req:  alice("kms:ScheduleKeyDeletion", keyARN),
			want: Deny,
		},
		{
			name: "action match is case-insensitive",
			doc:  doc(`{"Effect":"Allow","Action":"KMS:decrypt","Resource":"*"}`),
			req:  alice("kms:Decrypt", keyARN),
			want: Allow,
		},
		{
			name: "action star wildcard",
			doc:  doc(`{"Effect":"Allow","Action":"kms:Get*","Resource":"*"}`),
			req:  alice("kms:GetPublicKey", keyARN),
			want: Allow,
		},
		{
			name: "action star wildcard does not cross services",
			doc:  doc(`{"Effect":"Allow","Action":"kms:*","Resource":"*"}`),
			req:  alice("secretsmanager:GetSecretValue", keyARN),
			want: NoMatch,
		},
		{
			name: "action question mark wildcard",
			doc:  doc(`{"Effect":"Allow","Action":"kms:?ncrypt","Resource":"*"}`),
			req:  alice("kms:Encrypt", keyARN),
			want: Allow,
		},
		{
			name: "resource wildcard",
			doc:  doc(`{"Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:aws:kms:*:111122223333:key/*"}`),
			req:  alice("kms:Decrypt", keyARN),
			want: Allow,
		},
		{
			name: "resource match is case-sensitive",
			doc:  doc(`{"Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:aws:kms:*:111122223333:KEY/*"}`),
			req:  alice("kms:Decrypt", keyARN),
			want: NoMatch,
		},
		{
			name: "resource question mark wildcard",
			doc:  doc(`{"Effect":"Allow","Action":"secretsmanager:*","Resource":"arn:aws:secretsmanager:us-east-1:111122223333:secret:db-??????"}`),
			req:  alice("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:111122223333:secret:db-AbCdEf"),
			want: Allow,
		},
		{
			name: "NotAction allows everything else",
			doc:  doc(`{"Effect":"Allow","NotAction":"kms:ScheduleKeyDeletion","Resource":"*"}`),
			req:  alice("kms:Decrypt", keyARN),
			want: Allow,
		},
		{
			name: "NotAction excludes the listed action",
			doc:  doc(`{"Effect":"Allow","NotAction":["kms:Schedule*","kms:Disable*"],"Resource":"*"}`),
			req:  alice("kms:DisableKey", keyARN),
			want: NoMatch,
		},
		{
			name: "NotResource denies everywhere but the listed resource",
			doc: doc(`{"Effect":"Allow","Action":"kms:*","Resource":"*"}`,
				`{"Effect":"Deny","Action":"kms:*","NotResource":"`+keyARN+`"}`),
			req:  alice("kms:Decrypt", "arn:aws:kms:us-east-1:111122223333:key/other"),
			want: Deny,
		},
		{
			name: "NotResource skips the listed resource",
			doc: doc(`{"Effect":"Allow","Action":"kms:*","Resource":"*"}`,
				`{"Effect":"Deny","Action":"kms:*","NotResource":"`+keyARN+`"}`),
			req:  alice("kms:Decrypt", keyARN),
			want: Allow,
		},
		{
			name: "condition false makes statement not apply",
			doc:  doc(`{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"kms:ViaService":"secretsmanager.us-east-1.amazonaws.com"}}}`),
			req:  alice("kms:Decrypt", keyARN),
			want: NoMatch,
		},
		{
			name: "policy variable in resource",
			doc:  doc(`{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"arn:aws:secretsmanager:*:111122223333:secret:home/${aws:username}/*"}`),
			req: &Request{Principal: Principal{ARN: aliceARN}, Action: "secretsmanager:GetSecretValue",
				Resource: "arn:aws:secretsmanager:us-east-1:111122223333:secret:home/alice/db",
				Context:  map[string][]string{"aws:username": {"alice"}}},
			want: Allow,
		},
		{
			name: "policy variable value is literal, not a wildcard",
			doc:  doc(`{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"arn:aws:secretsmanager:*:111122223333:secret:home/${aws:username}/x"}`),
			req: &Request{Principal: Principal{ARN: aliceARN}, Action: "secretsmanager:GetSecretValue",
				Resource: "arn:aws:secretsmanager:us-east-1:111122223333:secret:home/bob/x",
				Context:  map[string][]string{"aws:username": {"*"}}},
			want: NoMatch,
		},
		{
			name: "missing policy variable matches nothing",
			doc:  doc(`{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"arn:aws:secretsmanager:*:111122223333:secret:home/${aws:username}/*"}`),
			req:  alice("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:111122223333:secret:home//x"),
			want: NoMatch,
		},
		{
			name: "policy variable default value",
			doc:  doc(`{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"arn:aws:secretsmanager:*:111122223333:secret:home/${aws:username, 'shared'}/*"}`),
			req:  alice("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:111122223333:secret:home/shared/x"),
			want: Allow,
		},
		{
			name: "policy variables are literal text in version 2008",
			doc:  `{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${aws:username}"}}`,
			req: &Request{Principal: Principal{ARN: aliceARN}, Action: "s3:GetObject",
				Resource: "arn:aws:s3:::b/${aws:username}", Context: map[string][]string{"aws:username": {"alice"}}},
			want: Allow,
		},
		{
			name: "escaped wildcard in resource",
			doc:  doc(`{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${*}"}`),
			req:  alice("s3:GetObject", "arn:aws:s3:::b/x"),
			want: NoMatch,
		},
		{
			name: "escaped wildcard matches a literal star",
			doc:  doc(`{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${*}"}`),
			req:  alice("s3:GetObject", "arn:aws:s3:::b/*"),
			want: Allow,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := mustParse(t, tc.doc)
			if got := p.Evaluate(tc.req); got != tc.want {
				t.Errorf("Evaluate = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEvaluateNilPolicy(t *testing.T) {
	t.Parallel()
	var p *Policy
	if got := p.Evaluate(alice("kms:Decrypt", keyARN)); got != NoMatch {
		t.Errorf("nil policy: %v, want NoMatch", got)
	}
	// A hand-built statement was never validated, so it must not grant anything.
	hand := &Policy{Statements: []Statement{{Effect: Allow, Action: []string{"*"}, Resource: []string{"*"}}}}
	if got := hand.Evaluate(alice("kms:Decrypt", keyARN)); got != NoMatch {
		t.Errorf("hand-built policy: %v, want NoMatch", got)
	}
}

func TestEffectString(t *testing.T) {
	t.Parallel()
	for e, want := range map[Effect]string{NoMatch: "NoMatch", Allow: "Allow", Deny: "Deny", Effect(7): "Effect(7)"} {
		if got := e.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(e), got, want)
		}
	}
}
