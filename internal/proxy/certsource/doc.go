// Package certsource is the proxy's one reload contract for certificates,
// keys, trust bundles and CRLs.
//
// A Source loads Material (a certificate with its key, a trust bundle with
// optional CRLs, or both). A Reloader owns one Source: it watches it (a
// polling interval that sees in-place writes as well as rename and
// symlink swaps, an explicit Trigger for SIGHUP or a control-plane push),
// validates what it loads against a Policy (key matches certificate, chain
// links, not expired, expected SANs, CRLs signed by a trusted CA), and only
// then swaps it in atomically and tells its subscribers. A change that
// fails validation is logged and counted (sds.<name>.update_rejected) and
// the old material stays in use, so a bad write never takes the proxy down.
//
// File sources live here; Secrets Manager (`sds`) and ACM
// (ExportCertificate) sources implement the same two small interfaces
// elsewhere: Source, and optionally Versioner so polling is cheap.
package certsource
