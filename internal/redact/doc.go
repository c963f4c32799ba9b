// Package redact hides secret material in values bound for a record: the
// audit log's request parameters and response elements. It holds the one
// list of sensitive member names ([IsSensitive]) and CloudTrail's marker
// ([Hidden]).
//
// It is a leaf: the api package's typed adapters redact every call's input
// and output through it, and the audit log only stores what it is given,
// so neither needs the other.
package redact
