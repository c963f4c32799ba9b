// Package awsproto holds the AWS wire protocols that every Bulwark service
// speaks: JSON 1.1 (KMS, ACM, ACM PCA, Secrets Manager, EventBridge), the
// Query protocol with XML responses (IAM, STS) and the error shapes an AWS
// SDK expects from each.
//
// Nothing here knows about a particular service: services return *Error
// values (or domain errors their own error table converts), and this
// package renders them at one exit point per protocol.
package awsproto
