// Package auditapi is Bulwark's own read-only API over its audit log
// (signing name "bulwark", JSON 1.1 target prefix "BulwarkAudit"):
// LookupEvents pages through events newest first with filters, and
// VerifyAuditLog checks the whole chain with the server's keys. Both are
// authorized (bulwark:LookupAuditEvents, bulwark:VerifyAuditLog) and, like
// every call, audited. The web console's Audit view is built on it.
package auditapi
