package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Bounds that make every event fit MaxLineBytes whatever a caller sends, so
// that an event is never refused for its size (an attacker could otherwise
// make a call leave no record by making it large). Sizes are of the raw
// strings; JSON escaping can make a string up to six times longer (`<` is
// written `\u003c`), which the bounds allow for.
const (
	// MaxFieldBytes bounds each top-level string (eventName, userAgent,
	// errorMessage, identity and resource members).
	MaxFieldBytes = 1024
	// MaxParamStringBytes bounds each string (and member name) inside
	// requestParameters and responseElements.
	MaxParamStringBytes = 4096
	// MaxElementsBytes bounds the serialised requestParameters and
	// responseElements each; a larger one is replaced by a marker object.
	MaxElementsBytes = 96 << 10
	// MaxResources bounds the resources list.
	MaxResources = 16
	// maxElidedPaths bounds the list of elided paths recorded in
	// additionalEventData.
	maxElidedPaths = 32
	// maxPathBytes bounds one recorded path; longer ones end in "…".
	maxPathBytes = 256
	// maxSegmentBytes bounds one member name within a recorded path.
	maxSegmentBytes = 64
)

// The worst case these allow, escaped: 20 top-level strings of 6 KiB,
// 16 resources of 3 × 6 KiB, three element trees of 96 KiB and 33 paths of
// 1.5 KiB: about 830 KiB, under MaxLineBytes. Append still has a last
// resort (dropping the trees) should the arithmetic ever be wrong.

// ElidedKey is the member of additionalEventData listing the JSON paths of
// the values that were shortened or replaced to keep the event bounded.
const ElidedKey = "elided"

// TruncatedMarker starts the suffix of every shortened string, which goes
// on with the original length and its SHA-256, so a shortened value can
// still be matched against a known one.
const TruncatedMarker = "…[truncated by Bulwark: "

// elided collects what bound shortened.
type elided struct{ paths []string }

func (e *elided) add(path string) {
	if len(e.paths) < maxElidedPaths {
		e.paths = append(e.paths, path)
	} else if len(e.paths) == maxElidedPaths {
		e.paths = append(e.paths, "…")
	}
}

// truncate shortens s to at most max bytes (cut at a rune boundary) and
// appends a marker with its length and hash; it reports whether it did.
func truncate(s string, max int) (string, bool) {
	if len(s) <= max {
		return s, false
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	sum := sha256.Sum256([]byte(s))
	return s[:cut] + TruncatedMarker + strconv.Itoa(len(s)) + " bytes, sha256 " + hex.EncodeToString(sum[:]) + "]", true
}

// bound makes e fit MaxLineBytes: it shortens oversized strings, replaces
// oversized or unserialisable parameter trees with a marker, caps the
// resources, and records every path it changed in
// AdditionalEventData[ElidedKey]. It never fails. It replaces rather than
// modifies the values e refers to, which callers may share.
//
// It returns the serialisations of the three trees as they now stand, made
// while checking their size, so that marshalLine need not serialise them
// again.
func bound(e *Event) *trees {
	var el elided
	var t trees
	str := func(p *string, path string) {
		if v, ok := truncate(*p, MaxFieldBytes); ok {
			*p = v
			el.add(path)
		}
	}
	str(&e.EventVersion, "eventVersion")
	str(&e.EventSource, "eventSource")
	str(&e.EventName, "eventName")
	str(&e.AWSRegion, "awsRegion")
	str(&e.SourceIPAddress, "sourceIPAddress")
	str(&e.UserAgent, "userAgent")
	str(&e.ErrorCode, "errorCode")
	str(&e.ErrorMessage, "errorMessage")
	str(&e.RequestID, "requestID")
	str(&e.EventID, "eventID")
	str(&e.EventType, "eventType")
	str(&e.RecipientAccountID, "recipientAccountId")
	u := &e.UserIdentity
	str(&u.Type, "userIdentity.type")
	str(&u.PrincipalID, "userIdentity.principalId")
	str(&u.ARN, "userIdentity.arn")
	str(&u.AccountID, "userIdentity.accountId")
	str(&u.AccessKeyID, "userIdentity.accessKeyId")
	str(&u.UserName, "userIdentity.userName")
	str(&u.InvokedBy, "userIdentity.invokedBy")
	if len(e.Resources) > 0 {
		n := min(len(e.Resources), MaxResources)
		if n < len(e.Resources) {
			el.add("resources[" + strconv.Itoa(n) + ":]")
		}
		rs := make([]Resource, 0, n)
		for i, r := range e.Resources[:n] {
			p := "resources[" + strconv.Itoa(i) + "]"
			str(&r.ARN, p+".ARN")
			str(&r.AccountID, p+".accountId")
			str(&r.Type, p+".type")
			rs = append(rs, r)
		}
		e.Resources = rs
	}
	e.RequestParameters, t.params = boundElements(e.RequestParameters, "requestParameters", &el)
	e.ResponseElements, t.response = boundElements(e.ResponseElements, "responseElements", &el)
	if e.AdditionalEventData != nil {
		var v any
		v, t.additional = boundElements(e.AdditionalEventData, "additionalEventData", &el)
		e.AdditionalEventData, _ = v.(map[string]any)
	}
	if len(el.paths) > 0 {
		t.additional = nil // changed below
		cp := make(map[string]any, len(e.AdditionalEventData)+1)
		for k, v := range e.AdditionalEventData {
			cp[k] = v
		}
		cp[ElidedKey] = el.paths
		e.AdditionalEventData = cp
	}
	return &t
}

// trees holds the JSON of an event's requestParameters, responseElements
// and additionalEventData exactly as json.Marshal writes the values the
// event now holds; nil where it is not known (marshalLine then serialises
// the value itself).
type trees struct {
	params, response, additional []byte
}

// boundHard is Append's last resort for an event bound did not make small
// enough: it drops every tree, keeping only the bounded top-level fields.
func boundHard(e *Event) {
	const msg = "dropped: the event was still over the line limit"
	e.RequestParameters = map[string]any{ElidedKey: msg}
	if e.ResponseElements != nil {
		e.ResponseElements = map[string]any{ElidedKey: msg}
	}
	e.Resources = nil
	e.AdditionalEventData = map[string]any{ElidedKey: []string{"requestParameters", "responseElements", "resources", "additionalEventData"}}
}

// join appends a member name or index to a recorded path, bounded.
func join(path, seg string) string {
	if len(path) >= maxPathBytes {
		return path
	}
	if s, ok := truncate(seg, maxSegmentBytes); ok {
		seg = s[:strings.Index(s, TruncatedMarker)] + "…"
	}
	p := path + seg
	if len(p) > maxPathBytes {
		cut := maxPathBytes
		for cut > 0 && !utf8.RuneStart(p[cut]) {
			cut--
		}
		p = p[:cut] + "…"
	}
	return p
}

// boundElements returns v, or a bounded copy of it in JSON's generic
// shapes, and json.Marshal's serialisation of what it returns (nil for a
// marker, which is cheap to serialise again).
func boundElements(v any, path string, el *elided) (any, []byte) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		el.add(path)
		return map[string]any{ElidedKey: "the value could not be serialised"}, nil
	}
	// A serialisation no longer than the string bound cannot hold a string
	// over it: the common case costs one Marshal.
	if len(b) <= MaxParamStringBytes {
		return v, b
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var g any
	if err := d.Decode(&g); err != nil {
		el.add(path)
		return map[string]any{ElidedKey: "the value could not be serialised"}, nil
	}
	before := len(el.paths)
	g = boundValue(g, path, el)
	if len(el.paths) > before {
		if b, err = json.Marshal(g); err != nil {
			el.add(path)
			return map[string]any{ElidedKey: "the value could not be serialised"}, nil
		}
	}
	if len(b) > MaxElementsBytes {
		sum := sha256.Sum256(b)
		// The paths within the tree are gone with it.
		el.paths = el.paths[:before]
		el.add(path)
		return map[string]any{ElidedKey: fmt.Sprintf("%d bytes of JSON over Bulwark's limit of %d, sha256 %s", len(b), MaxElementsBytes, hex.EncodeToString(sum[:]))}, nil
	}
	if len(el.paths) == before {
		return v, b
	}
	return g, b
}

// boundValue shortens the strings and member names of a freshly decoded
// generic value in place (it owns g) and returns it.
func boundValue(g any, path string, el *elided) any {
	switch t := g.(type) {
	case string:
		if s, ok := truncate(t, MaxParamStringBytes); ok {
			el.add(path)
			return s
		}
		return t
	case []any:
		for i, v := range t {
			t[i] = boundValue(v, join(path, "["+strconv.Itoa(i)+"]"), el)
		}
		return t
	case map[string]any:
		var renamed map[string]string
		for k, v := range t {
			p := join(path, "."+k)
			if nk, ok := truncate(k, MaxParamStringBytes); ok {
				el.add(p)
				if renamed == nil {
					renamed = map[string]string{}
				}
				renamed[k] = nk
			}
			t[k] = boundValue(v, p, el)
		}
		for k, nk := range renamed {
			t[nk] = t[k]
			delete(t, k)
		}
		return t
	default:
		return g
	}
}
