// Package secrets implements the AWS Secrets Manager API (JSON 1.1, target
// secretsmanager): versioned secrets whose values are envelope-encrypted
// under KMS keys, staging labels (AWSCURRENT, AWSPREVIOUS, AWSPENDING and
// custom ones), idempotent writes keyed by ClientRequestToken, resource
// policies, scheduled deletion with a recovery window, random passwords and
// rotation through an HTTP endpoint that follows the four-step Lambda
// rotation protocol.
//
// Every version's value is sealed with AES-256-GCM under a fresh data key
// from KMS (Keys.GenerateDataKeyFor) bound to the secret's ARN and version
// id by the encryption context, so reading a value needs kms:Decrypt on the
// secret's key as well as secretsmanager:GetSecretValue, as in AWS.
//
// Layout: secrets.go (Service, Config), store.go (typed storage and secret
// lookup), values.go and cache.go (envelope encryption and the short-lived
// data-key cache), versions.go (writes and staging labels), manage.go
// (describe, delete, restore, tags, policies), list.go, rotation.go,
// password.go, errors.go (the one error table) and api.go, the only file
// that knows the wire shapes.
package secrets
