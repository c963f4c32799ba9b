package codec

import (
	"errors"
	"strings"
	"testing"
)

// upper replaces fields named in names by "ENC(value)".
func upper(names ...string) Func {
	return func(f Field) (string, bool, error) {
		for _, n := range names {
			if f.Name == n {
				return "ENC(" + f.Value + ")", true, nil
			}
		}
		return "", false, nil
	}
}

func TestRewriteForm(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
		fields         []string
		n              int
	}{
		{"seed fields", "fname=Alejandro&lname=Rosalez&city=S%C3%A3o+Paulo", "fname=ENC%28Alejandro%29&lname=Rosalez&city=S%C3%A3o+Paulo", []string{"fname"}, 1},
		{"encoded value decoded first", "email=a%40b.io&x=1", "email=ENC%28a%40b.io%29&x=1", []string{"email"}, 1},
		{"repeated key", "ssn=1&ssn=2", "ssn=ENC%281%29&ssn=ENC%282%29", []string{"ssn"}, 2},
		{"empty pairs kept", "a=1&&b=2&", "a=1&&b=ENC%282%29&", []string{"b"}, 1},
		{"untouched identical", "a=%7e&b", "a=%7e&b", []string{"z"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, n, err := RewriteForm([]byte(tc.in), "form", upper(tc.fields...))
			if err != nil || string(got) != tc.want || n != tc.n {
				t.Fatalf("got %q, %d, %v; want %q, %d", got, n, err, tc.want, tc.n)
			}
		})
	}
	if _, _, err := RewriteForm([]byte("a=%zz"), "form", upper("a")); !errors.Is(err, ErrSyntax) {
		t.Fatalf("bad escape: %v", err)
	}
}

const mp = "preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"fname\"\r\n\r\nAlejandro\r\n" +
	"--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhi\r\nthere\r\n" +
	"--XyZ\r\nContent-Disposition: form-data; name=\"doc\"; filename=\"a.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n\x00\x01\r\n" +
	"--XyZ--\r\nepilogue"

func TestRewriteMultipart(t *testing.T) {
	t.Parallel()
	got, n, err := RewriteMultipart([]byte(mp), "XyZ", upper("fname", "note"))
	if err != nil || n != 2 {
		t.Fatal(n, err)
	}
	want := strings.Replace(strings.Replace(mp, "\r\n\r\nAlejandro\r\n", "\r\n\r\nENC(Alejandro)\r\n", 1), "hi\r\nthere", "ENC(hi\r\nthere)", 1)
	if string(got) != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	// File parts are offered, marked, so the caller can look inside them
	// (a JSON file) or refuse to replace them.
	var file Field
	if _, _, err := RewriteMultipart([]byte(mp), "XyZ", func(f Field) (string, bool, error) {
		if f.Name == "doc" {
			file = f
		}
		return "", false, nil
	}); err != nil || !file.File || file.ContentType != "application/octet-stream" || file.Value != "\x00\x01" {
		t.Fatalf("file part offered as %+v (%v)", file, err)
	}
	same, n, err := RewriteMultipart([]byte(mp), "XyZ", upper("none"))
	if err != nil || n != 0 || string(same) != mp {
		t.Fatalf("identity: %q %d %v", same, n, err)
	}
	for _, bad := range []string{"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end", "nothing", "--XyZ\r\nunterminated"} {
		if _, _, err := RewriteMultipart([]byte(bad), "XyZ", upper("a")); !errors.Is(err, ErrSyntax) {
			t.Errorf("%q: err = %v", bad, err)
		}
	}
}

func TestRewriteXML(t *testing.T) {
	t.Parallel()
	in := `<?xml version="1.0"?>
<!-- c --><people><person id="7" ssn='123-45-6789'><fname>Alejandro</fname><note><![CDATA[a<b]]></note><empty/>
  <addr><city>Paris</city></addr></person></people>`
	tests := []struct {
		name   string
		fields []string
		want   string
		fail   bool
	}{
		{"element and attribute", []string{"fname", "@ssn"},
			strings.Replace(strings.Replace(in, ">Alejandro<", ">ENC(Alejandro)<", 1), "'123-45-6789'", "'ENC(123-45-6789)'", 1), false},
		{"cdata text escaped", []string{"note"}, strings.Replace(in, "<![CDATA[a<b]]>", "ENC(a&lt;b)", 1), false},
		{"element with children refused", []string{"addr"}, "", true},
		{"nothing", nil, in, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, _, err := RewriteXML([]byte(in), upper(tc.fields...))
			if tc.fail {
				if err == nil {
					t.Fatal("expected error")
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("got  %s\nwant %s\nerr %v", got, tc.want, err)
			}
		})
	}
	for _, bad := range []string{"<a><b></a>", "<a>", "", "<a/><b/>", "<a>x</a>junk"} {
		if _, _, err := RewriteXML([]byte(bad), upper("a")); !errors.Is(err, ErrSyntax) {
			t.Errorf("%q: err = %v", bad, err)
		}
	}
}

// TestRewriteMultipartRefusesAmbiguous: bodies another parser could split
// into different parts (delimiters after a bare LF, in the preamble or
// epilogue, LF-terminated headers) are refused, never partly copied.
func TestRewriteMultipartRefusesAmbiguous(t *testing.T) {
	t.Parallel()
	const part = "Content-Disposition: form-data; name=\"ssn\"\r\n\r\nv\r\n"
	tests := []struct{ name, body string }{
		{"bare LF before first delimiter", "\n--XyZ\r\n" + part + "--XyZ\r\n" + part + "--XyZ--\r\n"},
		{"delimiter in preamble", "a --XyZ\r\n\r\n--XyZ\r\n" + part + "--XyZ--\r\n"},
		{"LF-only delimiter inside a part", "--XyZ\r\n" + part + "x\n--XyZ\r\n" + part + "--XyZ--\r\n"},
		{"LF-terminated headers", "--XyZ\r\nContent-Disposition: form-data; name=\"ssn\"\n\nv\r\n--XyZ\r\n" + part + "--XyZ--\r\n"},
		{"part body starting with a delimiter", "--XyZ\r\n\r\n--XyZ\r\n" + part + "--XyZ--\r\n"},
		{"delimiter in epilogue", "--XyZ\r\n" + part + "--XyZ--\r\n--XyZ\r\n" + part + "--XyZ--\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if out, _, err := RewriteMultipart([]byte(tc.body), "XyZ", upper("ssn")); !errors.Is(err, ErrSyntax) {
				t.Fatalf("err %v, out %q; want ErrSyntax", err, out)
			}
		})
	}
}

// TestRewriteFormSemicolons: ';' separates pairs as '&' does (Rack, cgi,
// old Go), and each separator is kept as it was.
func TestRewriteFormSemicolons(t *testing.T) {
	t.Parallel()
	got, n, err := RewriteForm([]byte("a=1;fname=x&b=2;;fname=y"), "form", upper("fname"))
	if err != nil || n != 2 || string(got) != "a=1;fname=ENC%28x%29&b=2;;fname=ENC%28y%29" {
		t.Fatalf("got %q %d %v", got, n, err)
	}
}

// TestRewriteMultipartRefusesAmbiguousNames: a part whose name parsers
// read differently, or whose content they decode, is refused.
func TestRewriteMultipartRefusesAmbiguousNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, headers string
		want          error
	}{
		{"name twice", `Content-Disposition: form-data; name="x"; name="ssn"`, ErrSyntax},
		{"name twice, case", `Content-Disposition: form-data; name="x"; NAME="ssn"`, ErrSyntax},
		{"name plain and RFC 2231", `Content-Disposition: form-data; name="x"; name*=UTF-8''ssn`, ErrSyntax},
		{"filename plain and RFC 2231", `Content-Disposition: form-data; name="x"; filename="a"; filename*=UTF-8''b`, ErrSyntax},
		{"unparseable disposition", `Content-Disposition: form-data; name="x`, ErrSyntax},
		{"two dispositions", "Content-Disposition: form-data; name=\"x\"\r\nContent-Disposition: form-data; name=\"ssn\"", ErrSyntax},
		{"two content types", "Content-Disposition: form-data; name=\"x\"\r\nContent-Type: text/plain\r\nContent-Type: application/json", ErrSyntax},
		{"quoted-printable", "Content-Disposition: form-data; name=\"x\"\r\nContent-Transfer-Encoding: quoted-printable", ErrUnsupported},
		{"base64", "Content-Disposition: form-data; name=\"x\"\r\nContent-Transfer-Encoding: base64", ErrUnsupported},
	} {
		body := "--b\r\n" + tc.headers + "\r\n\r\nv\r\n--b--\r\n"
		if _, _, err := RewriteMultipart([]byte(body), "b", upper("none")); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
}
