// Package iam holds Bulwark's principals: the account root, IAM users, their
// access keys (secrets sealed at rest by the store) and their inline
// policies, plus the IAM and STS Query APIs over them.
//
// The server asks this package two things on every request: who owns an
// access key (LookupAccessKey) and which identity policies apply to the
// caller (IdentityPolicies). Everything else is the IAM API subset that the
// AWS CLI's `aws iam` and `aws sts` commands use.
package iam
