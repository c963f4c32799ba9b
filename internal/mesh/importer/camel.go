package importer

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// camelKey turns a CloudFormation property name into the API member name:
// "PortMapping" → "portMapping", "DNS"/"TLS"/"HTTP2" → "dns"/"tls"/"http2",
// "AWSCloudMap" → "awsCloudMap".
func camelKey(k string) string {
	r := []rune(k)
	n := 0
	for n < len(r) && (unicode.IsUpper(r[n]) || (n > 0 && unicode.IsDigit(r[n]))) {
		n++
	}
	switch {
	case n == 0:
		return k
	case n == len(r) || n == 1:
	default:
		n-- // the last capital starts the next word
	}
	return strings.ToLower(string(r[:n])) + string(r[n:])
}

// intMembers are the spec members App Mesh types as integers (or lists of
// them); CloudFormation templates often quote them ("9080"), which
// CloudFormation accepts and the API does not.
var intMembers = map[string]bool{
	"port": true, "ports": true, "weight": true, "priority": true, "maxRetries": true,
	"healthyThreshold": true, "unhealthyThreshold": true, "intervalMillis": true, "timeoutMillis": true,
	"maxConnections": true, "maxPendingRequests": true, "maxRequests": true, "maxServerErrors": true,
	"maxEjectionPercent": true, "start": true, "end": true,
	// "value" only beside "unit" (a duration): see camel.
}

// boolMembers are the boolean spec members.
var boolMembers = map[string]bool{"invert": true, "enforce": true}

// camel converts a resolved CloudFormation spec to the API's JSON shape.
// parent is the API name of the member v is the value of. Two properties
// that become one member ("Port" and "port") are refused rather than one
// silently winning.
func camel(v any, parent string) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			ck := camelKey(k)
			if _, dup := out[ck]; dup {
				return nil, fmt.Errorf("%s: two properties become the member %q", parent, ck)
			}
			c, err := camel(e, ck)
			if err != nil {
				return nil, err
			}
			out[ck] = c
		}
		// A duration's value is an integer; every other "value" (tags,
		// attributes, log formats, rewrites) is a string.
		if s, ok := out["value"].(string); ok && out["unit"] != nil {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				out["value"] = n
			}
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			c, err := camel(e, parent)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case string:
		if intMembers[parent] {
			if n, err := strconv.ParseInt(x, 10, 64); err == nil {
				return n, nil
			}
		}
		if boolMembers[parent] {
			if b, err := strconv.ParseBool(x); err == nil {
				return b, nil
			}
		}
	}
	return v, nil
}
