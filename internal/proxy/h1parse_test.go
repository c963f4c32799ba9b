package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
)

func parseReq(raw string) (*h1Head, error) {
	br := bufio.NewReaderSize(strings.NewReader(raw), 4096)
	s, _, err := readHead(br, nil)
	if err != nil {
		return nil, err
	}
	h := &h1Head{}
	if err := parseRequestHead(s, h); err != nil {
		return nil, err
	}
	return h, nil
}

func statusOf(err error) int {
	var he *h1Error
	if errors.As(err, &he) {
		return he.status
	}
	return 0
}

// TestParseRequestHeadRefuses: every ambiguity request smuggling needs is
// refused with the status the client gets.
func TestParseRequestHeadRefuses(t *testing.T) {
	t.Parallel()
	long := "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("a", maxHeadBytes) + "\r\n\r\n"
	many := "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: y\r\n", maxHeaderFields) + "\r\n"
	for _, tc := range []struct {
		name, raw string
		status    int
	}{
		{"CL and TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"TE and CL", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400},
		{"two CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", 400},
		{"CL list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\n", 400},
		{"CL sign", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n", 400},
		{"CL empty", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400},
		{"CL huge", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1234567890123456789\r\n\r\n", 400},
		{"two TE", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"TE gzip", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
		{"TE obfuscated", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 501},
		{"TE on 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"space before colon", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", 400},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400},
		{"obs-fold tab", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", 400},
		{"bare LF", "GET / HTTP/1.1\nHost: a\n\n", 400},
		{"bare LF in field", "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 400},
		{"bare CR in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400},
		{"NUL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", 400},
		{"no Host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"two Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"bad Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
		{"bad method", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"space in target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"two spaces", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
		{"lower-case version", "GET / http/1.1\r\nHost: a\r\n\r\n", 400},
		{"bad name", "GET / HTTP/1.1\r\nHost: a\r\nX\"y: z\r\n\r\n", 400},
		{"no colon", "GET / HTTP/1.1\r\nHost: a\r\nXy\r\n\r\n", 400},
		{"Expect other", "GET / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", 417},
		{"head too large", long, 431},
		{"too many fields", many, 431},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseReq(tc.raw)
			if got := statusOf(err); got != tc.status {
				t.Fatalf("status %d (%v), want %d", got, err, tc.status)
			}
		})
	}
}

func TestParseRequestHeadAccepts(t *testing.T) {
	t.Parallel()
	h, err := parseReq("POST /a?b=c HTTP/1.1\r\nHost: x.local:80\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nTransfer-Encoding: Chunked\r\nX-Val:  v \t\r\n\r\n")
	if err != nil {
		t.Fatal(err)
	}
	if h.method != "POST" || h.target != "/a?b=c" || h.host != "x.local:80" || !h.chunked || h.contentLength != -1 || h.connClose {
		t.Fatalf("head %+v", h)
	}
	if !h.hopByHop("x-hop") || !h.hopByHop("Keep-Alive") || h.hopByHop("X-Val") {
		t.Fatal("hop-by-hop fields misjudged")
	}
	if h.fields[len(h.fields)-1].value != "v" {
		t.Fatalf("value %q not trimmed", h.fields[len(h.fields)-1].value)
	}
	h, err = parseReq("GET / HTTP/1.0\r\n\r\n")
	if err != nil || !h.connClose {
		t.Fatalf("HTTP/1.0 without keep-alive: %+v %v", h, err)
	}
}

func TestCopyChunked(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in, out string
		ok            bool
	}{
		{"plain", "3\r\nabc\r\n1;ext=1\r\nd\r\n0\r\n\r\n", "3\r\nabc\r\n1\r\nd\r\n0\r\n\r\n", true},
		{"trailer", "1\r\na\r\n0\r\nX-T: 1\r\n\r\n", "1\r\na\r\n0\r\n\r\n", true},
		{"upper hex", "A\r\n0123456789\r\n0\r\n\r\n", "a\r\n0123456789\r\n0\r\n\r\n", true},
		{"space in size", "3 \r\nabc\r\n0\r\n\r\n", "", false},
		{"sign", "+3\r\nabc\r\n0\r\n\r\n", "", false},
		{"0x", "0x3\r\nabc\r\n0\r\n\r\n", "", false},
		{"bare LF", "3\nabc\r\n0\r\n\r\n", "", false},
		{"data too long", "3\r\nabcd\r\n0\r\n\r\n", "", false},
		{"data too short", "3\r\nab\r\n0\r\n\r\n", "", false},
		{"overflow", "ffffffffffffffff\r\n", "", false},
		{"no last chunk", "3\r\nabc\r\n", "", false},
		{"bad trailer", "0\r\nX T: 1\r\n\r\n", "", false},
		{"empty size", "\r\nabc\r\n", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			bw := bufio.NewWriter(&out)
			_, err := copyChunked(bw, bufio.NewReader(strings.NewReader(tc.in)), true)
			_ = bw.Flush()
			if (err == nil) != tc.ok {
				t.Fatalf("err %v, want ok=%v", err, tc.ok)
			}
			if tc.ok && out.String() != tc.out {
				t.Fatalf("re-encoded %q, want %q", out.String(), tc.out)
			}
		})
	}
}

// FuzzParseRequestHead is a differential test: whatever the forwarding
// path's parser accepts, net/http's parses too, with the same method,
// target, Host, body framing and field values, so the proxy and any
// net/http upstream cannot disagree on where a request ends.
func FuzzParseRequestHead(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /x?y HTTP/1.1\r\nHost: a:1\r\nContent-Length: 5\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
		"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		br := bufio.NewReader(strings.NewReader(raw))
		s, _, err := readHead(br, nil)
		if err != nil {
			return
		}
		var h h1Head
		if parseRequestHead(s, &h) != nil {
			return
		}
		if h.target[0] != '/' || h.upgrade {
			return // handed to net/http with the bytes read (h1conn.handoff)
		}
		if _, err := url.ParseRequestURI(h.target); err != nil {
			return // answered 400 (h1conn.request)
		}
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(s)))
		if err != nil {
			t.Fatalf("accepted here, refused by net/http (%v): %q", err, s)
		}
		if req.Method != h.method || req.RequestURI != h.target {
			t.Fatalf("request line differs: %q %q vs %q %q", req.Method, req.RequestURI, h.method, h.target)
		}
		if h.hasHost && !strings.HasPrefix(h.target, "http") && req.Host != h.host {
			t.Fatalf("Host %q vs %q", req.Host, h.host)
		}
		wantCL := h.contentLength
		switch {
		case h.chunked:
			wantCL = -1
			if len(req.TransferEncoding) != 1 || req.TransferEncoding[0] != "chunked" {
				t.Fatalf("chunked here, TransferEncoding %v in net/http", req.TransferEncoding)
			}
		case wantCL < 0:
			wantCL = 0
		}
		if req.ContentLength != wantCL {
			t.Fatalf("Content-Length %d vs %d", req.ContentLength, wantCL)
		}
		for _, fl := range h.fields {
			if strings.EqualFold(fl.name, "Host") || strings.EqualFold(fl.name, "Transfer-Encoding") {
				continue // net/http moves these out of Header
			}
			found := false
			for _, v := range req.Header.Values(fl.name) {
				found = found || v == fl.value
			}
			if !found {
				t.Fatalf("field %q: %q not among net/http's %q", fl.name, fl.value, req.Header.Values(fl.name))
			}
		}
		// The body framing also agrees on chunked bodies.
		if h.chunked {
			body := "3\r\nabc\r\n0\r\n\r\n"
			req, _ := http.ReadRequest(bufio.NewReader(strings.NewReader(s + body)))
			got, err := io.ReadAll(req.Body)
			if err != nil || string(got) != "abc" {
				t.Fatalf("net/http read the chunked body as %q, %v", got, err)
			}
		}
	})
}

// FuzzCopyChunked: a chunked body the forwarding path accepts decodes to
// the same bytes with net/http's chunked reader, and its re-encoding
// decodes to them too.
func FuzzCopyChunked(f *testing.F) {
	for _, s := range []string{"3\r\nabc\r\n0\r\n\r\n", "1;a=b\r\nx\r\n0\r\nT: v\r\n\r\n", "0\r\n\r\n", "3 \r\nabc\r\n0\r\n\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var plain, rechunked bytes.Buffer
		bw := bufio.NewWriter(&plain)
		if _, err := copyChunked(bw, bufio.NewReader(strings.NewReader(in)), false); err != nil {
			return
		}
		_ = bw.Flush()
		want, err := io.ReadAll(httputil.NewChunkedReader(strings.NewReader(in)))
		if err != nil {
			t.Fatalf("accepted here, refused by net/http (%v): %q", err, in)
		}
		if !bytes.Equal(plain.Bytes(), want) {
			t.Fatalf("decoded %q, net/http %q", plain.Bytes(), want)
		}
		bw = bufio.NewWriter(&rechunked)
		if _, err := copyChunked(bw, bufio.NewReader(strings.NewReader(in)), true); err != nil {
			t.Fatal(err)
		}
		_ = bw.Flush()
		again, err := io.ReadAll(httputil.NewChunkedReader(&rechunked))
		if err != nil || !bytes.Equal(again, want) {
			t.Fatalf("re-encoded body decodes to %q, %v", again, err)
		}
	})
}
