// Package events implements a subset of the Amazon EventBridge API (JSON
// 1.1, target AWSEvents, signing name "events") on the default event bus:
// rules with event patterns, HTTP targets (API destinations, or a plain
// http(s) URL as a Bulwark extension), PutEvents and TestEventPattern.
//
// Delivery is at least once: every matched (event, target) pair is a
// persisted queue record, attempted at once and retried with exponential
// backoff under the target's RetryPolicy until the endpoint answers 2xx, so
// a restart resumes delivery where it stopped. Other Bulwark services
// publish through PutEvent (ACM's expiry events).
package events
