package sigv4

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/smithy-go/encoding/httpbinding"
)

const sdkHeader = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/kms/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"

func TestParseAuthorization(t *testing.T) {
	t.Parallel()
	want := Authorization{
		Scope:         Scope{AccessKeyID: testAKID, Date: "20260101", Region: testRegion, Service: "kms"},
		SignedHeaders: []string{"content-type", "host", "x-amz-date"},
		Signature:     "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
	}
	for _, tc := range []struct {
		name    string
		header  string
		wantMsg string // empty = must parse to want
	}{
		{name: "as the SDK writes it", header: sdkHeader},
		{name: "commas without spaces", header: strings.ReplaceAll(sdkHeader, ", ", ",")},
		{name: "spaces without commas", header: strings.ReplaceAll(sdkHeader, ",", "")},
		{name: "tabs and padding", header: "AWS4-HMAC-SHA256\t" + strings.ReplaceAll(sdkHeader[len(Algorithm)+1:], ", ", " ,\t ") + " "},
		{name: "unknown component ignored", header: sdkHeader + ", Foo=bar"},
		{name: "components reordered", header: Algorithm + " Signature=" + want.Signature + ", Credential=" + want.Scope.String() + ", SignedHeaders=content-type;host;x-amz-date"},
		{name: "empty", header: "  ", wantMsg: "empty"},
		{name: "parameters without algorithm", header: sdkHeader[len(Algorithm)+1:], wantMsg: "requires the algorithm"},
		{name: "lower-case algorithm", header: strings.ToLower(Algorithm) + sdkHeader[len(Algorithm):], wantMsg: "Unsupported AWS 'algorithm'"},
		{name: "duplicate Credential", header: sdkHeader + ", Credential=" + want.Scope.String(), wantMsg: "duplicate 'Credential'"},
		{name: "empty signed header name", header: strings.Replace(sdkHeader, "host;", "host;;", 1), wantMsg: "invalid header name"},
		{name: "repeated signed header", header: strings.Replace(sdkHeader, "host;", "host;host;", 1), wantMsg: "lists \"host\" twice"},
		{name: "empty access key id", header: strings.Replace(sdkHeader, "AKIDEXAMPLE", "", 1), wantMsg: "empty access key id"},
		{name: "empty region", header: strings.Replace(sdkHeader, "us-east-1", "", 1), wantMsg: "valid region"},
		{name: "empty service", header: strings.Replace(sdkHeader, "/kms/", "//", 1), wantMsg: "valid service"},
		{name: "impossible date", header: strings.Replace(sdkHeader, "20260101", "20260230", 1), wantMsg: "YYYYMMDD"},
		{name: "huge value is not echoed in full", header: "AWS4-HMAC-SHA256 Credential=" + strings.Repeat("A", 10000) + ", SignedHeaders=host, Signature=00", wantMsg: "..."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseAuthorization(tc.header)
			if tc.wantMsg == "" {
				if err != nil || !reflect.DeepEqual(got, want) {
					t.Fatalf("ParseAuthorization = %+v, %v; want %+v", got, err, want)
				}
				return
			}
			checkOutcome(t, nil, err, KindIncomplete, tc.wantMsg)
			if len(err.Error()) > 600 {
				t.Errorf("error message is %d bytes long", len(err.Error()))
			}
		})
	}
}

// sdkStripExcessSpaces is aws-sdk-go-v2/aws/signer/internal/v4's
// StripExcessSpaces, copied because the package is internal; the
// canonical-header value must be TrimSpace(StripExcessSpaces(v)).
func sdkStripExcessSpaces(str string) string {
	var j, k, l, m, spaces int
	for j = len(str) - 1; j >= 0 && str[j] == ' '; j-- {
	}
	for k = 0; k < j && str[k] == ' '; k++ {
	}
	str = str[k : j+1]
	j = strings.Index(str, "  ")
	if j < 0 {
		return str
	}
	buf := []byte(str)
	for k, m, l = j, j, len(buf); k < l; k++ {
		if buf[k] == ' ' {
			if spaces == 0 {
				buf[m] = buf[k]
				m++
			}
			spaces++
		} else {
			spaces = 0
			buf[m] = buf[k]
			m++
		}
	}
	return string(buf[:m])
}

// checkCanonicalPieces fails t when the helpers differ from the SDK's.
func checkCanonicalPieces(t *testing.T, s string) {
	if got, want := string(appendHeaderValue(nil, s)), strings.TrimSpace(sdkStripExcessSpaces(s)); got != want {
		t.Fatalf("header value %q: got %q, SDK %q", s, got, want)
	}
	if got, want := string(appendEscapedPath(nil, s)), httpbinding.EscapePath(s, false); got != want {
		t.Fatalf("path %q: got %q, SDK %q", s, got, want)
	}
}

func TestCanonicalPiecesMatchSDK(t *testing.T) {
	t.Parallel()
	for _, s := range canonicalSeeds {
		t.Run(s, func(t *testing.T) { checkCanonicalPieces(t, s) })
	}
}

var canonicalSeeds = []string{"", " ", "   ", "a", " a ", "a  b", "\t a  b \t", "  a \t  b  ", "a\u00a0 ", "/a%20b/ü/~-._*", "/x%2Fy//", "\x00\xff"}

func FuzzCanonicalPieces(f *testing.F) {
	for _, s := range canonicalSeeds {
		f.Add(s)
	}
	f.Fuzz(checkCanonicalPieces)
}

func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{
		sdkHeader,
		strings.ReplaceAll(sdkHeader, ", ", ","),
		Algorithm,
		Algorithm + " Credential=a/20260101/r/s/aws4_request, SignedHeaders=host, Signature=x=y",
		"Bearer abc",
		Algorithm + " Credential=/, SignedHeaders=;, Signature=",
		Algorithm + " =,==, Credential",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		a, err := ParseAuthorization(h)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Kind != KindIncomplete {
				t.Fatalf("error %v is not a KindIncomplete *Error", err)
			}
			return
		}
		b, err := ParseAuthorization(a.String())
		if err != nil {
			t.Fatalf("re-parsing %q: %v", a.String(), err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("round trip changed %+v into %+v", a, b)
		}
	})
}
