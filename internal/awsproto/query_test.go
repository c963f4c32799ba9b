package awsproto

import (
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

type queryTag struct {
	Key   string `query:"Key"`
	Value string `query:"Value"`
}

type queryInput struct {
	UserName string     `query:"UserName"`
	Tags     []queryTag `query:"Tags"`
	Names    []string   `query:"Names"`
	Ignored  string
}

func TestDecodeQuery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		form string
		want queryInput
	}{
		{"scalars", "UserName=alice&Ignored=x", queryInput{UserName: "alice"}},
		{"struct list in index order", "Tags.member.2.Key=b&Tags.member.1.Key=a&Tags.member.1.Value=1",
			queryInput{Tags: []queryTag{{"a", "1"}, {"b", ""}}}},
		{"list stops at the first gap", "Names.member.1=a&Names.member.3=c", queryInput{Names: []string{"a"}}},
		{"list not starting at 1 is empty", "Names.member.2=b", queryInput{}},
		{"bad indexes ignored", "Names.member.01=a&Names.member.-1=b&Names.member.1x=c&Names.member.9999999=d&Names.member.1=ok",
			queryInput{Names: []string{"ok"}}},
		{"unknown list ignored", "Other.member.1=a", queryInput{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			form, err := url.ParseQuery(tt.form)
			if err != nil {
				t.Fatal(err)
			}
			var got queryInput
			if err := DecodeQuery(form, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestDecodeQueryRefusesUnsupportedShapes(t *testing.T) {
	t.Parallel()
	var notStruct string
	if err := DecodeQuery(url.Values{}, &notStruct); err == nil {
		t.Error("a non-struct target was accepted")
	}
	var bad struct {
		N int `query:"N"`
	}
	if err := DecodeQuery(url.Values{"N": {"1"}}, &bad); err == nil {
		t.Error("an int member was silently skipped")
	}
}

// A form of many list members decodes in linear time: before DecodeQuery,
// reading Tags.member.N scanned the whole form once per index.
func TestDecodeQueryLargeList(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	const n = 9000
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteByte('&')
		}
		b.WriteString("Names.member.")
		b.WriteString(strconv.Itoa(i))
		b.WriteString("=x")
	}
	form, err := url.ParseQuery(b.String())
	if err != nil {
		t.Fatal(err)
	}
	var got queryInput
	if err := DecodeQuery(form, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Names) != n {
		t.Fatalf("decoded %d members, want %d", len(got.Names), n)
	}
}

func FuzzDecodeQuery(f *testing.F) {
	for _, s := range []string{"UserName=a&Tags.member.1.Key=k&Tags.member.1.Value=v", "Names.member.1=a&Names.member.2=b", "Tags.member..Key=x", "Tags.member.1", "%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		form, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		var in queryInput
		if err := DecodeQuery(form, &in); err != nil {
			t.Fatalf("DecodeQuery(%q): %v", raw, err)
		}
		for i, tag := range in.Tags {
			if form.Get("Tags.member."+strconv.Itoa(i+1)+".Key") != tag.Key {
				t.Fatalf("tag %d: %q, form says %q", i, tag.Key, form.Get("Tags.member."+strconv.Itoa(i+1)+".Key"))
			}
		}
	})
}
