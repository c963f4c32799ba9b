// Package policy parses and evaluates AWS IAM JSON policy documents: identity
// policies attached to users and roles, and resource policies such as KMS key
// policies.
//
// The package is pure: it knows nothing of HTTP, storage or the clock. Callers
// put everything a condition may test (aws:CurrentTime, aws:SourceIp,
// kms:ViaService, ...) into [Request.Context], and the principal making the
// call into [Request.Principal].
//
// Parse validates a document once and compiles it; [Policy.Evaluate] and
// [Authorize] are then allocation-light and safe for concurrent use, because a
// parsed [Policy] is never modified.
//
// Evaluation follows the AWS IAM rules: an explicit Deny anywhere wins, an
// Allow is needed for access, and anything else is an implicit deny. For KMS
// the key policy is authoritative (see [KeyPolicy]): a statement naming the
// caller's account root ("arn:aws:iam::111122223333:root" or "111122223333")
// does not grant access by itself, it delegates the decision to the account's
// identity policies.
package policy
