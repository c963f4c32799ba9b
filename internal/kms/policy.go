package kms

import (
	"context"
	"errors"
	"fmt"

	"github.com/bulwarkd/bulwark/internal/api"
	"github.com/bulwarkd/bulwark/internal/awsproto"
	"github.com/bulwarkd/bulwark/internal/policy"
)

// maxPolicyBytes is AWS's key policy size limit.
const maxPolicyBytes = 32768

// defaultPolicy is the policy AWS KMS gives a key created without one: the
// account root may do everything, which delegates to IAM policies.
func (s *Service) defaultPolicy() string {
	return `{
  "Version" : "2012-10-17",
  "Id" : "key-default-1",
  "Statement" : [ {
    "Sid" : "Enable IAM User Permissions",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "arn:aws:iam::` + s.cfg.AccountID + `:root"
    },
    "Action" : "kms:*",
    "Resource" : "*"
  } ]
}`
}

// managedPolicy is the policy of an AWS-managed key (alias/aws/<service>):
// principals of the account may use it through that service only, and the
// account may read its metadata.
func (s *Service) managedPolicy(service string) string {
	acct := s.cfg.AccountID
	via := service + "." + s.cfg.Region + ".amazonaws.com"
	return fmt.Sprintf(`{
  "Version" : "2012-10-17",
  "Id" : "auto-%[1]s-2",
  "Statement" : [ {
    "Sid" : "Allow access through %[1]s for all principals in the account that are authorized to use %[1]s",
    "Effect" : "Allow",
    "Principal" : { "AWS" : "*" },
    "Action" : [ "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey" ],
    "Resource" : "*",
    "Condition" : { "StringEquals" : { "kms:CallerAccount" : "%[2]s", "kms:ViaService" : "%[3]s" } }
  }, {
    "Sid" : "Allow direct access to key metadata to the account",
    "Effect" : "Allow",
    "Principal" : { "AWS" : "arn:aws:iam::%[2]s:root" },
    "Action" : [ "kms:Describe*", "kms:Get*", "kms:List*" ],
    "Resource" : "*"
  } ]
}`, service, acct, via)
}

// checkPolicy parses a proposed key policy and, unless bypass, applies
// AWS's lockout safety check: the policy must let the caller make a later
// PutKeyPolicy call on the key, so nobody locks the key away by accident.
func (s *Service) checkPolicy(ctx context.Context, c *api.Call, doc, keyARN string, bypass bool) (*policy.Policy, error) {
	if len(doc) == 0 || len(doc) > maxPolicyBytes {
		return nil, fmt.Errorf("%w: The key policy must be 1 to %d characters.", ErrMalformedPolicy, maxPolicyBytes)
	}
	p, err := policy.ParseResource([]byte(doc))
	if err != nil {
		var pe *policy.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%w: %s", ErrMalformedPolicy, pe.Msg)
		}
		return nil, fmt.Errorf("%w: The key policy is not valid.", ErrMalformedPolicy)
	}
	if bypass {
		return p, nil
	}
	err = c.Authorize(ctx, api.AuthzRequest{Action: "kms:PutKeyPolicy", Resource: keyARN, ResourcePolicy: p, Mode: policy.KeyPolicy,
		Context: map[string][]string{"kms:calleraccount": {c.Principal.AccountID}}})
	var denied *awsproto.AccessDenied
	if errors.As(err, &denied) {
		return nil, fmt.Errorf("%w: The new key policy will not allow you to update the key policy in the future.", ErrMalformedPolicy)
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}
