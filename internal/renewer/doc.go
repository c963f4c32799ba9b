// Package renewer is the seed's renewal function as a long-running HTTP
// service: it receives EventBridge deliveries of ACM certificate events,
// renews the certificates bound to it, confirms the new serial, and
// exports each into the secret prefixes bound to it (internal/certsync),
// so that proxies watching those secrets reload the new certificate.
//
// Every action is decided from the state of the certificate and of the
// secrets, never from the event alone, so it is idempotent:
//
//   - a certificate is renewed only when it is inside its renewal window
//     (NeedsRenewal: NotAfter − now ≤ min(RenewBefore, lifetime/2), the
//     lifetime measured from IssuedAt, not the back-dated NotBefore); once
//     renewed, the new certificate is outside the window until the next
//     cycle, so the daily "Approaching Expiration" events of the following
//     45 days, a duplicate delivery or a reconciliation pass change
//     nothing;
//   - "ACM Certificate Available" (which every renewal emits, this
//     renewer's own included) only exports, never renews;
//   - guard rails defer what the rule asks for if it would renew one
//     certificate twice within a window, or more than
//     MaxRenewalsPerMinute in all (MetricGuardTrips, a warning log);
//   - one certificate is handled by one goroutine at a time, and after
//     RenewCertificate the renewer polls DescribeCertificate (with
//     backoff) until the serial changes, so it never races the renewal it
//     asked for;
//   - a prefix is exported only when its certificate secret's AWSCURRENT
//     version is not the one derived from the current serial.
//
// A timer reconciles every binding, so a dropped event cannot let a
// certificate expire. Deliveries must carry the configured API key header
// or basic-auth credentials (what an EventBridge connection adds).
package renewer
