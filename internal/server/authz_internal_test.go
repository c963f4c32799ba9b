package server

import (
	"reflect"
	"sort"
	"testing"

	"github.com/bulwarkd/bulwark/internal/api"
)

func tagCall(body string) *api.Call {
	c := api.NewCall(nil)
	c.Service = &api.Service{Name: "kms", Protocol: api.JSON11}
	c.Body = []byte(body)
	return c
}

// flatTags renders request tags as "key=value" or "key" for comparison.
func flatTags(ts []requestTag) []string {
	var out []string
	for _, t := range ts {
		if t.value != nil {
			out = append(out, t.key+"="+*t.value)
		} else {
			out = append(out, t.key)
		}
	}
	sort.Strings(out)
	return out
}

// TestRequestTags covers the ways a body can carry tags past a naive
// reader: member names in another case or escaped (encoding/json, which
// the handlers decode with, matches them), both wire shapes, duplicates
// (the last wins for handler and server alike), and shapes that must be
// refused rather than authorized without their tags.
func TestRequestTags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		body    string
		want    []string
		wantErr bool
	}{
		{"no tags", `{"KeyId":"k"}`, nil, false},
		{"key and value", `{"Tags":[{"Key":"env","Value":"prod"}]}`, []string{"env=prod"}, false},
		{"kms shape", `{"Tags":[{"TagKey":"env","TagValue":"prod"}]}`, []string{"env=prod"}, false},
		{"lower-case member names", `{"tags":[{"key":"env","value":"prod"}]}`, []string{"env=prod"}, false},
		{"upper-case member names", `{"TAGS":[{"KEY":"env","VALUE":"prod"}]}`, []string{"env=prod"}, false},
		{"unicode fold of s in the member name", `{"Tagſ":[{"Key":"env","Value":"prod"}]}`, []string{"env=prod"}, false},
		{"kelvin sign in TagKeys", "{\"TagKeys\":[\"a\"]}", []string{"a"}, false},
		{"base64 value with tag letters only", `{"CiphertextBlob":"TAGtagTaG="}`, nil, false},
		{"escaped member name", `{"T\u0061gs":[{"Key":"env","Value":"prod"}]}`, []string{"env=prod"}, false},
		{"escaped name hiding tag", `{"\u0054\u0061\u0067s":[{"Key":"env","Value":"prod"}]}`, []string{"env=prod"}, false},
		{"duplicate member: last wins", `{"Tags":[{"Key":"env","Value":"dev"}],"Tags":[{"Key":"env","Value":"prod"}]}`, []string{"env=prod"}, false},
		{"tag keys", `{"TagKeys":["a","b"]}`, []string{"a", "b"}, false},
		{"untag list without values", `{"Tags":[{"Key":"a"}]}`, []string{"a"}, false},
		{"tags and tag keys", `{"Tags":[{"Key":"a","Value":"1"}],"TagKeys":["b"]}`, []string{"a=1", "b"}, false},
		{"null tags", `{"Tags":null}`, nil, false},
		{"tags not a list", `{"Tags":{"env":"prod"}}`, nil, true},
		{"tag key not a string", `{"Tags":[{"Key":1}]}`, nil, true},
		{"mixed shapes", `{"Tags":[{"Key":"a","TagKey":"b","Value":"x"}]}`, nil, true},
		{"tag without key", `{"Tags":[{"Value":"prod"}]}`, nil, true},
		{"tag keys not strings", `{"TagKeys":[1]}`, nil, true},
		{"not an object", `["tags"]`, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := requestTags(tagCall(tc.body))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if !reflect.DeepEqual(flatTags(got), tc.want) {
				t.Errorf("tags = %v, want %v", flatTags(got), tc.want)
			}
		})
	}
}

func TestArnService(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"arn:aws:kms:us-east-1:111122223333:key/1":                       "kms",
		"arn:aws:acm-pca:us-east-1:111122223333:certificate-authority/x": "acm-pca",
		"arn:aws:secretsmanager:us-east-1:111122223333:secret:a-b":       "secretsmanager",
		"*":                  "",
		"arn:aws":            "",
		"arn:aws::x":         "",
		"arn:aws:events":     "",
		"notarn:aws:kms:r:a": "",
	}
	for arn, want := range tests {
		got, ok := arnService(arn)
		if got != want || ok != (want != "") {
			t.Errorf("arnService(%q) = %q, %v; want %q", arn, got, ok, want)
		}
	}
}

func FuzzRequestTags(f *testing.F) {
	f.Add(`{"Tags":[{"Key":"env","Value":"prod"}],"TagKeys":["a"]}`)
	f.Add(`{"Tags":[{"TagKey":"env","TagValue":"prod"}]}`)
	f.Add(`{"t\u0061gs":[{"key":"a"}]}`)
	f.Fuzz(func(t *testing.T, body string) {
		tags, err := requestTags(tagCall(body))
		if err != nil && tags != nil {
			t.Fatalf("tags %v with error %v", tags, err)
		}
		for _, tg := range tags {
			_ = tg.key
		}
	})
}
