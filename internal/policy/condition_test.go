package policy

import (
	"testing"
)

type ctx = map[string][]string

func TestConditions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cond string // the value of "Condition"
		ctx  ctx
		want bool
	}{
		// String operators.
		{"StringEquals match", `{"StringEquals":{"kms:ViaService":"secretsmanager.us-east-1.amazonaws.com"}}`, ctx{"kms:viaservice": {"secretsmanager.us-east-1.amazonaws.com"}}, true},
		{"StringEquals is case-sensitive on values", `{"StringEquals":{"aws:username":"Alice"}}`, ctx{"aws:username": {"alice"}}, false},
		{"StringEquals key lookup is case-insensitive", `{"StringEquals":{"AWS:UserName":"alice"}}`, ctx{"aws:username": {"alice"}}, true},
		{"StringEquals mixed-case context key", `{"StringEquals":{"aws:username":"alice"}}`, ctx{"aws:UserName": {"alice"}}, true},
		{"StringEquals values are ORed", `{"StringEquals":{"aws:username":["bob","alice"]}}`, ctx{"aws:username": {"alice"}}, true},
		{"StringEquals missing key", `{"StringEquals":{"aws:username":"alice"}}`, nil, false},
		{"StringEquals empty value list is missing", `{"StringEquals":{"aws:username":"alice"}}`, ctx{"aws:username": {}}, false},
		{"StringNotEquals differs", `{"StringNotEquals":{"aws:username":"bob"}}`, ctx{"aws:username": {"alice"}}, true},
		{"StringNotEquals is NOR over values", `{"StringNotEquals":{"aws:username":["bob","alice"]}}`, ctx{"aws:username": {"alice"}}, false},
		{"StringNotEquals missing key is true", `{"StringNotEquals":{"aws:username":"bob"}}`, nil, true},
		{"StringEqualsIgnoreCase", `{"StringEqualsIgnoreCase":{"aws:username":"ALICE"}}`, ctx{"aws:username": {"alice"}}, true},
		{"StringNotEqualsIgnoreCase same word", `{"StringNotEqualsIgnoreCase":{"aws:username":"ALICE"}}`, ctx{"aws:username": {"alice"}}, false},
		{"StringLike wildcard", `{"StringLike":{"kms:ViaService":"secretsmanager.*.amazonaws.com"}}`, ctx{"kms:viaservice": {"secretsmanager.eu-west-1.amazonaws.com"}}, true},
		{"StringLike no match", `{"StringLike":{"kms:ViaService":"secretsmanager.*"}}`, ctx{"kms:viaservice": {"s3.eu-west-1.amazonaws.com"}}, false},
		{"StringNotLike", `{"StringNotLike":{"kms:ViaService":"secretsmanager.*"}}`, ctx{"kms:viaservice": {"s3.eu-west-1.amazonaws.com"}}, true},
		{"StringEquals with policy variable", `{"StringEquals":{"kms:EncryptionContext:owner":"${aws:username}"}}`, ctx{"kms:encryptioncontext:owner": {"alice"}, "aws:username": {"alice"}}, true},
		{"StringEquals with unresolved variable", `{"StringEquals":{"kms:EncryptionContext:owner":"${aws:username}"}}`, ctx{"kms:encryptioncontext:owner": {"alice"}}, false},
		{"aws:PrincipalArn defaults to the caller", `{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/*"}}`, nil, true},
		{"aws:PrincipalAccount defaults to the caller", `{"StringEquals":{"aws:PrincipalAccount":"111122223333"}}`, nil, true},

		// Bool and Null.
		{"Bool true", `{"Bool":{"aws:SecureTransport":"true"}}`, ctx{"aws:securetransport": {"true"}}, true},
		{"Bool JSON boolean", `{"Bool":{"aws:SecureTransport":true}}`, ctx{"aws:securetransport": {"TRUE"}}, true},
		{"Bool false", `{"Bool":{"aws:SecureTransport":"true"}}`, ctx{"aws:securetransport": {"false"}}, false},
		{"Bool missing key", `{"Bool":{"aws:SecureTransport":"false"}}`, nil, false},
		{"BoolIfExists missing key", `{"BoolIfExists":{"aws:SecureTransport":"false"}}`, nil, true},
		{"BoolIfExists present key", `{"BoolIfExists":{"aws:SecureTransport":"false"}}`, ctx{"aws:securetransport": {"true"}}, false},
		{"Null true with missing key", `{"Null":{"aws:TokenIssueTime":"true"}}`, nil, true},
		{"Null true with present key", `{"Null":{"aws:TokenIssueTime":"true"}}`, ctx{"aws:tokenissuetime": {"2026-01-01T00:00:00Z"}}, false},
		{"Null false with present key", `{"Null":{"aws:TokenIssueTime":false}}`, ctx{"aws:tokenissuetime": {"2026-01-01T00:00:00Z"}}, true},
		{"Null false with missing key", `{"Null":{"aws:TokenIssueTime":"false"}}`, nil, false},

		// IP addresses.
		{"IpAddress IPv4 in CIDR", `{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`, ctx{"aws:sourceip": {"203.0.113.77"}}, true},
		{"IpAddress IPv4 outside CIDR", `{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`, ctx{"aws:sourceip": {"198.51.100.1"}}, false},
		{"IpAddress single address", `{"IpAddress":{"aws:SourceIp":"198.51.100.1"}}`, ctx{"aws:sourceip": {"198.51.100.1"}}, true},
		{"IpAddress IPv6", `{"IpAddress":{"aws:SourceIp":["203.0.113.0/24","2001:db8::/32"]}}`, ctx{"aws:sourceip": {"2001:db8:1::5"}}, true},
		{"IpAddress IPv4-mapped IPv6 caller", `{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`, ctx{"aws:sourceip": {"::ffff:203.0.113.9"}}, true},
		{"IpAddress unparsable caller", `{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}`, ctx{"aws:sourceip": {"not-an-ip"}}, false},
		{"NotIpAddress outside", `{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, ctx{"aws:sourceip": {"203.0.113.1"}}, true},
		{"NotIpAddress inside", `{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, ctx{"aws:sourceip": {"10.1.2.3"}}, false},

		// Numbers.
		{"NumericEquals", `{"NumericEquals":{"kms:GrantCount":10}}`, ctx{"kms:grantcount": {"10.0"}}, true},
		{"NumericNotEquals", `{"NumericNotEquals":{"kms:GrantCount":"10"}}`, ctx{"kms:grantcount": {"11"}}, true},
		{"NumericLessThan true", `{"NumericLessThan":{"aws:MultiFactorAuthAge":"3600"}}`, ctx{"aws:multifactorauthage": {"100"}}, true},
		{"NumericLessThan equal is false", `{"NumericLessThan":{"aws:MultiFactorAuthAge":"3600"}}`, ctx{"aws:multifactorauthage": {"3600"}}, false},
		{"NumericLessThanEquals equal", `{"NumericLessThanEquals":{"aws:MultiFactorAuthAge":"3600"}}`, ctx{"aws:multifactorauthage": {"3600"}}, true},
		{"NumericGreaterThan", `{"NumericGreaterThan":{"kms:GrantCount":"1.5"}}`, ctx{"kms:grantcount": {"2"}}, true},
		{"NumericGreaterThanEquals below", `{"NumericGreaterThanEquals":{"kms:GrantCount":"3"}}`, ctx{"kms:grantcount": {"2"}}, false},
		{"Numeric unparsable caller", `{"NumericGreaterThan":{"kms:GrantCount":"0"}}`, ctx{"kms:grantcount": {"many"}}, false},
		{"NumericLessThanIfExists missing", `{"NumericLessThanIfExists":{"aws:MultiFactorAuthAge":"3600"}}`, nil, true},

		// Dates.
		{"DateLessThan RFC3339", `{"DateLessThan":{"aws:CurrentTime":"2027-01-01T00:00:00Z"}}`, ctx{"aws:currenttime": {"2026-11-27T18:00:00Z"}}, true},
		{"DateLessThan after", `{"DateLessThan":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}}`, ctx{"aws:currenttime": {"2026-11-27T18:00:00Z"}}, false},
		{"DateGreaterThan epoch policy value", `{"DateGreaterThan":{"aws:CurrentTime":"1700000000"}}`, ctx{"aws:currenttime": {"2026-11-27T18:00:00Z"}}, true},
		{"DateGreaterThan epoch context value", `{"DateGreaterThan":{"aws:CurrentTime":"2026-01-01T00:00:00Z"}}`, ctx{"aws:currenttime": {"1700000000"}}, false},
		{"DateEquals across zones", `{"DateEquals":{"aws:TokenIssueTime":"2026-11-27T19:00:00+01:00"}}`, ctx{"aws:tokenissuetime": {"2026-11-27T18:00:00Z"}}, true},
		{"DateNotEquals", `{"DateNotEquals":{"aws:TokenIssueTime":"2026-11-27"}}`, ctx{"aws:tokenissuetime": {"2026-11-27T18:00:00Z"}}, true},
		{"DateLessThanEquals equal", `{"DateLessThanEquals":{"aws:CurrentTime":"2026-11-27T18:00:00Z"}}`, ctx{"aws:currenttime": {"2026-11-27T18:00:00Z"}}, true},
		{"DateGreaterThanEquals equal", `{"DateGreaterThanEquals":{"aws:CurrentTime":"2026-11-27T18:00:00Z"}}`, ctx{"aws:currenttime": {"2026-11-27T18:00:00Z"}}, true},

		// ARNs.
		{"ArnEquals exact", `{"ArnEquals":{"aws:SourceArn":"arn:aws:sns:us-east-1:111122223333:topic"}}`, ctx{"aws:sourcearn": {"arn:aws:sns:us-east-1:111122223333:topic"}}, true},
		{"ArnLike wildcard region", `{"ArnLike":{"aws:SourceArn":"arn:aws:sns:*:111122223333:*"}}`, ctx{"aws:sourcearn": {"arn:aws:sns:eu-west-1:111122223333:topic"}}, true},
		{"ArnLike star does not span components", `{"ArnLike":{"aws:SourceArn":"arn:aws:sns:*:111122223333"}}`, ctx{"aws:sourcearn": {"arn:aws:sns:eu-west-1:111122223333:topic"}}, false},
		{"ArnLike resource with colons", `{"ArnLike":{"aws:SourceArn":"arn:aws:logs:*:*:log-group:app:*"}}`, ctx{"aws:sourcearn": {"arn:aws:logs:us-east-1:111122223333:log-group:app:log-stream:x"}}, true},
		{"ArnLike context not an ARN", `{"ArnLike":{"aws:SourceArn":"arn:aws:sns:*:*:*"}}`, ctx{"aws:sourcearn": {"topic"}}, false},
		{"ArnNotEquals", `{"ArnNotEquals":{"aws:SourceArn":"arn:aws:sns:us-east-1:111122223333:topic"}}`, ctx{"aws:sourcearn": {"arn:aws:sns:us-east-1:111122223333:other"}}, true},
		{"ArnNotLike match", `{"ArnNotLike":{"aws:SourceArn":"arn:aws:sns:*:*:*"}}`, ctx{"aws:sourcearn": {"arn:aws:sns:us-east-1:111122223333:other"}}, false},
		{"ArnLike with policy variable", `{"ArnLike":{"aws:SourceArn":"arn:aws:sns:*:${aws:PrincipalAccount}:*"}}`, ctx{"aws:sourcearn": {"arn:aws:sns:us-east-1:111122223333:t"}}, true},

		// IfExists.
		{"StringEqualsIfExists missing", `{"StringEqualsIfExists":{"kms:ViaService":"x"}}`, nil, true},
		{"StringEqualsIfExists present mismatch", `{"StringEqualsIfExists":{"kms:ViaService":"x"}}`, ctx{"kms:viaservice": {"y"}}, false},
		{"StringNotEqualsIfExists present match", `{"StringNotEqualsIfExists":{"kms:ViaService":"x"}}`, ctx{"kms:viaservice": {"x"}}, false},

		// Set operators.
		{"ForAnyValue one matches", `{"ForAnyValue:StringEquals":{"aws:TagKeys":["env","team"]}}`, ctx{"aws:tagkeys": {"owner", "env"}}, true},
		{"ForAnyValue none matches", `{"ForAnyValue:StringEquals":{"aws:TagKeys":["env","team"]}}`, ctx{"aws:tagkeys": {"owner"}}, false},
		{"ForAnyValue missing key", `{"ForAnyValue:StringEquals":{"aws:TagKeys":["env"]}}`, nil, false},
		{"ForAnyValue negated", `{"ForAnyValue:StringNotEquals":{"aws:TagKeys":["env"]}}`, ctx{"aws:tagkeys": {"env", "other"}}, true},
		{"ForAllValues all match", `{"ForAllValues:StringEquals":{"aws:TagKeys":["env","team"]}}`, ctx{"aws:tagkeys": {"team", "env"}}, true},
		{"ForAllValues one outside", `{"ForAllValues:StringEquals":{"aws:TagKeys":["env","team"]}}`, ctx{"aws:tagkeys": {"team", "owner"}}, false},
		{"ForAllValues missing key is true", `{"ForAllValues:StringEquals":{"aws:TagKeys":["env"]}}`, nil, true},
		{"ForAllValues negated", `{"ForAllValues:StringNotLike":{"aws:TagKeys":["aws:*"]}}`, ctx{"aws:tagkeys": {"env", "aws:x"}}, false},
		{"ForAllValues IfExists", `{"ForAllValues:StringLikeIfExists":{"aws:TagKeys":["e*"]}}`, ctx{"aws:tagkeys": {"env", "eu"}}, true},
		{"multi-valued key without set operator", `{"StringEquals":{"aws:TagKeys":"env"}}`, ctx{"aws:tagkeys": {"owner", "env"}}, true},
		{"multi-valued key negated without set operator", `{"StringNotEquals":{"aws:TagKeys":"env"}}`, ctx{"aws:tagkeys": {"owner", "env"}}, false},

		// Combination.
		{"keys in one operator are ANDed", `{"StringEquals":{"aws:username":"alice","kms:ViaService":"x"}}`, ctx{"aws:username": {"alice"}, "kms:viaservice": {"y"}}, false},
		{"operators are ANDed", `{"StringEquals":{"aws:username":"alice"},"Bool":{"aws:SecureTransport":"true"}}`, ctx{"aws:username": {"alice"}, "aws:securetransport": {"true"}}, true},
		{"operator names are case-insensitive", `{"stringequals":{"aws:username":"alice"}}`, ctx{"aws:username": {"alice"}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := mustParse(t, doc(`{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*","Condition":`+tc.cond+`}`))
			req := alice("kms:Decrypt", keyARN)
			req.Context = tc.ctx
			got := p.Evaluate(req) == Allow
			if got != tc.want {
				t.Errorf("condition %s with context %v = %v, want %v", tc.cond, tc.ctx, got, tc.want)
			}
		})
	}
}
