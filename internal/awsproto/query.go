package awsproto

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// QueryContentType is the content type of Query protocol responses.
const QueryContentType = "text/xml"

// WriteQuery writes a Query protocol success response:
//
//	<ActionResponse xmlns="ns"><ActionResult>…</ActionResult>
//	<ResponseMetadata><RequestId>…</RequestId></ResponseMetadata></ActionResponse>
//
// result is marshalled with encoding/xml as the content of ActionResult; a
// nil result leaves the Result element out, as AWS does for actions that
// return nothing (DeleteUser, for one).
func WriteQuery(w http.ResponseWriter, action, namespace, requestID string, result any) error {
	q := queryEncoders.Get().(*queryEncoder)
	buf := &q.buf
	buf.Reset()
	buf.WriteString(`<` + action + `Response xmlns="` + namespace + `">`)
	if result != nil {
		err := q.enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: action + "Result"}})
		if err == nil {
			err = q.enc.Flush()
		}
		if err != nil {
			// The encoder may hold half an element: not reused.
			return err
		}
	}
	buf.WriteString(`<ResponseMetadata><RequestId>`)
	_ = xml.EscapeText(buf, []byte(requestID))
	buf.WriteString(`</RequestId></ResponseMetadata></` + action + `Response>`)
	h := w.Header()
	h.Set("Content-Type", QueryContentType)
	h.Set("X-Amzn-Requestid", requestID)
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(buf.Bytes())
	if buf.Cap() <= maxPooledResponse {
		queryEncoders.Put(q)
	}
	return err
}

// maxPooledResponse bounds the response buffers kept for reuse, so one
// large answer (a long ListUsers) does not stay in memory.
const maxPooledResponse = 64 << 10

// queryEncoder is a reusable response buffer with an XML encoder writing
// into it: xml.NewEncoder allocates a 4 KiB buffer each time, which was a
// third of the bytes an sts:GetCallerIdentity allocated.
type queryEncoder struct {
	buf bytes.Buffer
	enc *xml.Encoder
}

var queryEncoders = sync.Pool{New: func() any {
	q := &queryEncoder{}
	q.enc = xml.NewEncoder(&q.buf)
	return q
}}

// WriteQueryError renders e in the Query protocol's ErrorResponse shape.
func WriteQueryError(w http.ResponseWriter, namespace, requestID string, e *Error) {
	type errorBody struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	fault := "Sender"
	if e.Receiver {
		fault = "Receiver"
	}
	doc := struct {
		XMLName   xml.Name  `xml:"ErrorResponse"`
		Xmlns     string    `xml:"xmlns,attr,omitempty"`
		Error     errorBody `xml:"Error"`
		RequestID string    `xml:"RequestId"`
	}{Xmlns: namespace, Error: errorBody{fault, e.Code, e.Message}, RequestID: requestID}
	body, _ := xml.Marshal(doc)
	h := w.Header()
	h.Set("Content-Type", QueryContentType)
	h.Set("X-Amzn-Requestid", requestID)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// QueryMembers reads a Query protocol list such as Tags.member.1.Key,
// Tags.member.2.Key…: it returns, for prefix "Tags.member", one url.Values
// per index (keyed by the suffix after the index, "" for scalar lists),
// stopping at the first missing index as AWS does.
func QueryMembers(form url.Values, prefix string) []url.Values {
	var out []url.Values
	for i := 1; ; i++ {
		p := prefix + "." + strconv.Itoa(i)
		item := url.Values{}
		for k, v := range form {
			switch {
			case k == p:
				item[""] = v
			case len(k) > len(p) && k[:len(p)+1] == p+".":
				item[k[len(p)+1:]] = v
			}
		}
		if len(item) == 0 {
			return out
		}
		out = append(out, item)
	}
}

// DecodeQuery decodes Query protocol form parameters into the members of
// the struct v points to that carry a `query:"Name"` tag:
//
//   - string: the parameter Name;
//   - []string: the list Name.member.1, Name.member.2, …;
//   - []struct: the list Name.member.N.<Sub>, each element's string
//     members tagged `query:"Sub"`.
//
// Lists stop at the first missing index, as AWS reads them; an index that
// is not a decimal number of at most six digits is ignored. Parameters
// without a member are ignored, as the AWS services do. The form is read in
// one pass, so a large form costs time linear in its size.
func DecodeQuery(form url.Values, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("awsproto: DecodeQuery needs a pointer to a struct, got %T", v)
	}
	rv = rv.Elem()
	rt := rv.Type()
	lists := map[string]int{} // list name → field index
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		name, ok := f.Tag.Lookup("query")
		if !ok || name == "" {
			continue
		}
		switch {
		case f.Type.Kind() == reflect.String:
			rv.Field(i).SetString(form.Get(name))
		case f.Type.Kind() == reflect.Slice && (f.Type.Elem().Kind() == reflect.String || f.Type.Elem().Kind() == reflect.Struct):
			lists[name] = i
		default:
			return fmt.Errorf("awsproto: DecodeQuery: member %s has unsupported type %s", f.Name, f.Type)
		}
	}
	if len(lists) == 0 {
		return nil
	}
	// items[list][index][sub] = value, "" sub for scalar lists.
	items := map[string]map[int]map[string]string{}
	for k, vals := range form {
		if len(vals) == 0 {
			continue
		}
		list, rest, ok := strings.Cut(k, ".member.")
		if !ok {
			continue
		}
		if _, wanted := lists[list]; !wanted {
			continue
		}
		idx, sub, _ := strings.Cut(rest, ".")
		n, ok := listIndex(idx)
		if !ok {
			continue
		}
		if items[list] == nil {
			items[list] = map[int]map[string]string{}
		}
		if items[list][n] == nil {
			items[list][n] = map[string]string{}
		}
		items[list][n][sub] = vals[0]
	}
	for list, i := range lists {
		fv := rv.Field(i)
		elem := fv.Type().Elem()
		out := reflect.MakeSlice(fv.Type(), 0, len(items[list]))
		for n := 1; ; n++ {
			item, ok := items[list][n]
			if !ok {
				break
			}
			e := reflect.New(elem).Elem()
			if elem.Kind() == reflect.String {
				e.SetString(item[""])
			} else {
				for j := 0; j < elem.NumField(); j++ {
					if sub, ok := elem.Field(j).Tag.Lookup("query"); ok && elem.Field(j).Type.Kind() == reflect.String {
						e.Field(j).SetString(item[sub])
					}
				}
			}
			out = reflect.Append(out, e)
		}
		if out.Len() > 0 {
			fv.Set(out)
		}
	}
	return nil
}

// listIndex parses a list index: 1 to 999999, decimal digits only.
func listIndex(s string) (int, bool) {
	if s == "" || len(s) > 6 || s[0] == '0' {
		return 0, false
	}
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, false
		}
		n = n*10 + int(r-'0')
	}
	return n, true
}
