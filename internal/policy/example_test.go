package policy_test

import (
	"fmt"

	"github.com/bulwarkd/bulwark/internal/policy"
)

// A KMS key policy that delegates to the account lets IAM policies decide.
func ExampleAuthorize() {
	keyPolicy, err := policy.ParseResource([]byte(`{
	  "Version": "2012-10-17",
	  "Statement": [{"Sid": "Enable IAM User Permissions", "Effect": "Allow",
	    "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}]
	}`))
	if err != nil {
		panic(err)
	}
	userPolicy, err := policy.ParseIdentity([]byte(`{
	  "Version": "2012-10-17",
	  "Statement": {"Sid": "Decrypt", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}
	}`))
	if err != nil {
		panic(err)
	}
	req := &policy.Request{
		Principal: policy.Principal{ARN: "arn:aws:iam::111122223333:user/alice"},
		Action:    "kms:Decrypt",
		Resource:  "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
	}
	d := policy.Authorize(req, []*policy.Policy{userPolicy}, keyPolicy, policy.KeyPolicy)
	fmt.Println(d.Allowed, d.Reason)

	req.Action = "kms:ScheduleKeyDeletion"
	d = policy.Authorize(req, []*policy.Policy{userPolicy}, keyPolicy, policy.KeyPolicy)
	fmt.Println(d.Allowed, d.Reason)
	// Output:
	// true key policy statement Enable IAM User Permissions delegates to the account and identity policy statement Decrypt allows
	// false key policy statement Enable IAM User Permissions delegates to the account but no identity policy allows
}

func ExampleParse_error() {
	_, err := policy.Parse([]byte(`{"Version":"2012-10-17","Statement":[
	  {"Effect":"Allow","Action":"kms:*","Resource":"*"},
	  {"Effect":"Permit","Action":"kms:*","Resource":"*"}]}`))
	fmt.Println(err)
	// Output: statement 2: "Effect" must be "Allow" or "Deny"
}
