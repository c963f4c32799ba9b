package policy

import (
	"errors"
	"testing"
)

// fuzzSeeds are realistic documents: the AWS default key policy, the key
// policy the console writes, identity policies and condition-heavy ones.
var fuzzSeeds = []string{
	defaultKeyPolicy,
	`{
  "Version": "2012-10-17",
  "Id": "key-consolepolicy-3",
  "Statement": [
    {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
     "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
    {"Sid": "Allow access for Key Administrators", "Effect": "Allow",
     "Principal": {"AWS": "arn:aws:iam::111122223333:role/KeyAdmin"},
     "Action": ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
                "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource",
                "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion"],
     "Resource": "*"},
    {"Sid": "Allow use of the key", "Effect": "Allow",
     "Principal": {"AWS": ["arn:aws:iam::111122223333:user/alice", "444455556666"]},
     "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
     "Resource": "*"},
    {"Sid": "Allow attachment of persistent resources", "Effect": "Allow",
     "Principal": {"AWS": "arn:aws:iam::111122223333:role/app"},
     "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"], "Resource": "*",
     "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}}
  ]
}`,
	`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["secretsmanager:GetSecretValue"],
   "Resource":"arn:aws:secretsmanager:*:111122223333:secret:home/${aws:username}/*"},
  {"Effect":"Deny","NotAction":"kms:Decrypt","NotResource":"arn:aws:kms:*:*:key/*",
   "Condition":{"ForAnyValue:StringLike":{"aws:TagKeys":["aws:*"]},"NumericLessThanIfExists":{"aws:MultiFactorAuthAge":3600}}}]}`,
	`{"Statement":{"Effect":"Deny","NotPrincipal":{"Service":["ec2.amazonaws.com"],"AWS":"*"},"Action":"*",
   "Condition":{"NotIpAddress":{"aws:SourceIp":["203.0.113.0/24","2001:db8::/32"]},
                "DateGreaterThan":{"aws:CurrentTime":"2026-01-01T00:00:00Z"},
                "ArnNotLike":{"aws:SourceArn":"arn:aws:sns:*:111122223333:*"},
                "Null":{"aws:TokenIssueTime":"true"}, "ForAllValues:StringEqualsIgnoreCase":{"aws:TagKeys":["Env"]}}}}`,
	`{"Version":"2008-10-17","Statement":[{"Sid":"1","Effect":"Allow","Principal":"*","Action":"s3:?et*","Resource":"arn:aws:s3:::b/${*}"}]}`,
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Msg == "" {
				t.Fatalf("Parse error %v (%T) is not a non-empty *ParseError", err, err)
			}
			return
		}
		// Feed the policy's own condition values back as context so that
		// evaluation reaches every operator with matching and odd values.
		context := map[string][]string{"aws:username": {"alice"}}
		for _, st := range p.Statements {
			for _, keys := range st.Condition {
				for k, v := range keys {
					context[k] = v
				}
			}
		}
		reqs := []*Request{
			{Principal: Principal{ARN: aliceARN}, Action: "kms:Decrypt", Resource: keyARN, Context: context},
			{Principal: Principal{ARN: "ec2.amazonaws.com", Type: PrincipalService}, Action: "s3:GetObject", Resource: "arn:aws:s3:::b/*"},
			{},
		}
		for _, req := range reqs {
			e, delegated := p.EvaluateResource(req)
			if delegated && e != Allow {
				t.Fatalf("delegated with effect %v", e)
			}
			for _, mode := range []Mode{Standard, KeyPolicy} {
				d := Authorize(req, []*Policy{p}, p, mode)
				if d.Allowed && d.ExplicitDeny {
					t.Fatalf("decision both allowed and denied: %+v", d)
				}
				if (e == Deny) != d.ExplicitDeny {
					t.Fatalf("Evaluate = %v but Authorize = %+v", e, d)
				}
			}
		}
	})
}
