package policy

import (
	"strings"
	"testing"
)

func TestEvaluateResourcePrincipals(t *testing.T) {
	t.Parallel()
	stmt := func(effect, principal string) string {
		return `{"Effect":"` + effect + `","Principal":` + principal + `,"Action":"kms:*","Resource":"*"}`
	}
	roleSession := Principal{ARN: "arn:aws:sts::111122223333:assumed-role/app/i-0abc"}
	tests := []struct {
		name          string
		doc           string
		principal     Principal
		want          Effect
		wantDelegated bool
	}{
		{"direct ARN", doc(stmt("Allow", `{"AWS":"`+aliceARN+`"}`)), Principal{ARN: aliceARN}, Allow, false},
		{"direct ARN in a list", doc(stmt("Allow", `{"AWS":["`+bobARN+`","`+aliceARN+`"]}`)), Principal{ARN: aliceARN}, Allow, false},
		{"other user not matched", doc(stmt("Allow", `{"AWS":"`+bobARN+`"}`)), Principal{ARN: aliceARN}, NoMatch, false},
		{"everyone", doc(stmt("Allow", `"*"`)), Principal{ARN: aliceARN}, Allow, false},
		{"everyone includes anonymous", doc(stmt("Allow", `"*"`)), Principal{}, Allow, false},
		{"AWS star", doc(stmt("Allow", `{"AWS":"*"}`)), Principal{ARN: aliceARN}, Allow, false},
		{"AWS star excludes services", doc(stmt("Allow", `{"AWS":"*"}`)), Principal{ARN: "ec2.amazonaws.com", Type: PrincipalService}, NoMatch, false},
		{"account root delegates", doc(stmt("Allow", `{"AWS":"`+rootARN+`"}`)), Principal{ARN: aliceARN}, Allow, true},
		{"bare account id delegates", doc(stmt("Allow", `{"AWS":"`+acct+`"}`)), Principal{ARN: aliceARN}, Allow, true},
		{"account from AccountID field", doc(stmt("Allow", `{"AWS":"`+acct+`"}`)), Principal{ARN: "AIDAEXAMPLE", AccountID: acct}, Allow, true},
		{"root user itself is direct", doc(stmt("Allow", `{"AWS":"`+rootARN+`"}`)), Principal{ARN: rootARN}, Allow, false},
		{"other account root not matched", doc(stmt("Allow", `{"AWS":"arn:aws:iam::`+otherAcct+`:root"}`)), Principal{ARN: aliceARN}, NoMatch, false},
		{"direct grant beats delegation", doc(stmt("Allow", `{"AWS":"`+rootARN+`"}`), stmt("Allow", `{"AWS":"`+aliceARN+`"}`)), Principal{ARN: aliceARN}, Allow, false},
		{"root and direct in one statement", doc(stmt("Allow", `{"AWS":["`+rootARN+`","`+aliceARN+`"]}`)), Principal{ARN: aliceARN}, Allow, false},
		{"role ARN matches its sessions", doc(stmt("Allow", `{"AWS":"arn:aws:iam::111122223333:role/svc/app"}`)), roleSession, Allow, false},
		{"role ARN does not match another role's session", doc(stmt("Allow", `{"AWS":"arn:aws:iam::111122223333:role/other"}`)), roleSession, NoMatch, false},
		{"service principal", doc(stmt("Allow", `{"Service":"ec2.amazonaws.com"}`)), Principal{ARN: "ec2.amazonaws.com", Type: PrincipalService}, Allow, false},
		{"service principal not an AWS user", doc(stmt("Allow", `{"Service":"ec2.amazonaws.com"}`)), Principal{ARN: "ec2.amazonaws.com"}, NoMatch, false},
		{"NotPrincipal deny hits others", doc(stmt("Allow", `"*"`), stmt("Deny", `{"AWS":"`+bobARN+`"}`), `{"Effect":"Deny","NotPrincipal":{"AWS":"`+aliceARN+`"},"Action":"kms:*","Resource":"*"}`), Principal{ARN: bobARN}, Deny, false},
		{"NotPrincipal deny spares the named principal", doc(stmt("Allow", `"*"`), `{"Effect":"Deny","NotPrincipal":{"AWS":"`+aliceARN+`"},"Action":"kms:*","Resource":"*"}`), Principal{ARN: aliceARN}, Allow, false},
		{"deny for the account wins over direct allow", doc(stmt("Allow", `{"AWS":"`+aliceARN+`"}`), stmt("Deny", `{"AWS":"`+acct+`"}`)), Principal{ARN: aliceARN}, Deny, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := mustParse(t, tc.doc)
			req := &Request{Principal: tc.principal, Action: "kms:Decrypt", Resource: keyARN}
			got, delegated := p.EvaluateResource(req)
			if got != tc.want || delegated != tc.wantDelegated {
				t.Errorf("EvaluateResource = (%v, %v), want (%v, %v)", got, delegated, tc.want, tc.wantDelegated)
			}
			if e := p.Evaluate(req); e != tc.want {
				t.Errorf("Evaluate = %v, want %v", e, tc.want)
			}
		})
	}
}

func TestAuthorize(t *testing.T) {
	t.Parallel()
	keyPolicy := func(principal string) *Policy {
		return mustParse(t, doc(`{"Sid":"K","Effect":"Allow","Principal":{"AWS":"`+principal+`"},"Action":"kms:*","Resource":"*"}`))
	}
	idAllow := mustParse(t, doc(`{"Sid":"I","Effect":"Allow","Action":"kms:Decrypt","Resource":"`+keyARN+`"}`))
	idOther := mustParse(t, doc(`{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}`))
	idDeny := mustParse(t, doc(`{"Sid":"NoDecrypt","Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}`))
	keyDeny := mustParse(t, doc(
		`{"Effect":"Allow","Principal":{"AWS":"`+aliceARN+`"},"Action":"kms:*","Resource":"*"}`,
		`{"Sid":"KD","Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}`))

	tests := []struct {
		name         string
		mode         Mode
		identity     []*Policy
		resource     *Policy
		ctx          map[string][]string
		wantAllowed  bool
		wantExplicit bool
		wantReason   string
	}{
		{"key policy direct grant", KeyPolicy, nil, keyPolicy(aliceARN), nil, true, false, "allowed by key policy statement K"},
		{"key policy grants everyone", KeyPolicy, nil, mustParse(t, doc(`{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt"}`)), nil, true, false, "allowed by key policy"},
		{"key policy delegation plus identity allow", KeyPolicy, []*Policy{idAllow}, keyPolicy(rootARN), nil, true, false, "identity policy statement I allows"},
		{"key policy delegation without identity allow", KeyPolicy, []*Policy{idOther}, keyPolicy(rootARN), nil, false, false, "no identity policy allows"},
		{"key policy delegation with no identity policies", KeyPolicy, nil, keyPolicy(acct), nil, false, false, "no identity policy allows"},
		{"nil key policy denies even with identity allow", KeyPolicy, []*Policy{idAllow}, nil, nil, false, false, "no key policy"},
		{"key policy for another user ignores identity allow", KeyPolicy, []*Policy{idAllow}, keyPolicy(bobARN), nil, false, false, "no key policy statement allows"},
		{"key policy delegation to another account", KeyPolicy, []*Policy{idAllow}, keyPolicy(otherAcct), nil, false, false, "no key policy statement allows"},
		{"identity deny beats key policy grant", KeyPolicy, []*Policy{idDeny}, keyPolicy(aliceARN), nil, false, true, "explicitly denied by identity policy statement NoDecrypt"},
		{"key policy deny beats grant", KeyPolicy, nil, keyDeny, map[string][]string{"aws:securetransport": {"false"}}, false, true, "explicitly denied by key policy statement KD"},
		{"key policy deny condition not met", KeyPolicy, nil, keyDeny, map[string][]string{"aws:securetransport": {"true"}}, true, false, "allowed by key policy"},
		{"standard identity allow", Standard, []*Policy{idOther, idAllow}, nil, nil, true, false, "allowed by identity policy statement I"},
		{"standard resource direct allow", Standard, nil, keyPolicy(aliceARN), nil, true, false, "allowed by resource policy statement K"},
		{"standard resource delegation alone", Standard, nil, keyPolicy(rootARN), nil, false, false, "implicit deny"},
		{"standard nothing allows", Standard, []*Policy{idOther}, nil, nil, false, false, "implicit deny"},
		{"standard deny in one of several identity policies", Standard, []*Policy{idAllow, idDeny}, nil, nil, false, true, "explicitly denied"},
		{"standard resource deny beats identity allow", Standard, []*Policy{idAllow}, keyDeny, map[string][]string{"aws:securetransport": {"false"}}, false, true, "explicitly denied by resource policy"},
		{"nil identity entries are skipped", Standard, []*Policy{nil, idAllow}, nil, nil, true, false, "allowed by identity policy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := &Request{Principal: Principal{ARN: aliceARN}, Action: "kms:Decrypt", Resource: keyARN, Context: tc.ctx}
			d := Authorize(req, tc.identity, tc.resource, tc.mode)
			if d.Allowed != tc.wantAllowed || d.ExplicitDeny != tc.wantExplicit {
				t.Errorf("Authorize = %+v, want Allowed=%v ExplicitDeny=%v", d, tc.wantAllowed, tc.wantExplicit)
			}
			if !strings.Contains(d.Reason, tc.wantReason) {
				t.Errorf("Reason = %q, want it to contain %q", d.Reason, tc.wantReason)
			}
		})
	}
}
